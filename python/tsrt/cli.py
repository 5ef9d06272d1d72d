"""The `tsrt` command: export models (more subcommands to come)."""

from __future__ import annotations

import argparse
import sys


def _export(args: argparse.Namespace) -> int:
    from tsrt.export import export_zoo_entry

    import models

    entry = models.get(args.zoo)
    mode = args.mode or entry.modes[0]
    print(export_zoo_entry(entry, args.output, mode))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tsrt", description="Export PyTorch models for the tsrt C++ runtime.",
        epilog="example: tsrt export --zoo resnet_cnn -o resnet.pt && ./infer resnet.pt")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="export a model of the zoo (models/) to a TorchScript file")
    export.add_argument("--zoo", required=True, help="name of a model in models/")
    export.add_argument("--mode", choices=("trace", "script"), help="export mode (default: the model's first valid mode)")
    export.add_argument("-o", "--output", required=True, help="path of the .pt file to write")
    export.set_defaults(run=_export)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (KeyError, ValueError) as error:
        print(f"tsrt {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
