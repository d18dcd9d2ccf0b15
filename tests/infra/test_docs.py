"""The README's configuration reference names every key Pulumi.yaml declares, with its real default."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_readme_config_reference_matches_pulumi_yaml() -> None:
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for key, spec in declared.items():
        if ":" in key:  # provider settings such as aws:region are not ours to document
            continue
        default = spec["default"]
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        cell = f"`{shown}`" if shown else "(empty)"
        assert f"| `{key}` | {cell} |" in readme, f"README's configuration reference lacks {key} = {cell}"
