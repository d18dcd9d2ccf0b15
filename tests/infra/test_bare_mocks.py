"""The program also runs under the barest mocks (inputs echoed back, nothing computed), as others write them."""

from typing import Any

from pulumi.runtime.mocks import MockResourceArgs

from tests.infra.harness import RecordingMocks, run_program


class EchoMocks(RecordingMocks):
    """The mocks of Pulumi's testing guide: every resource answers with its own inputs, no ARNs, URLs or ids."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        return f"{args.name}-id", dict(args.inputs)


def test_the_program_declares_everything_without_computed_outputs() -> None:
    full, bare = run_program("dev"), run_program("dev", mocks=EchoMocks())
    # No resource was skipped because an upstream output was missing: the same graph, type for type.
    assert sorted(r.typ for r in bare.resources) == sorted(r.typ for r in full.resources)
    assert len(bare.resources) > 40
