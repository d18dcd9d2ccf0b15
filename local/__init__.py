"""What runs on your machine beside the program: the local cloud (`tasktrail up`: the Pulumi program deployed into
an embedded AWS emulator, and the AWS services it needs emulated from the program's own declarations) and the
operators' commands for any stack (`tasktrail history|list|redrive|ui`). See the README's "Layout"."""
