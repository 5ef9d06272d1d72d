"""The `tsrt` command line: export a model to a self-describing TorchScript file or
AOTInductor package, inspect one, diagnose a model that will not export.

    tsrt export models.mlp:MLP -o mlp.pt --example x=4x64:float32 --dynamic x:0
    tsrt export --zoo resnet_cnn -o resnet.pt
    tsrt export --zoo resnet_cnn --format aoti -o resnet.pt2
    tsrt inspect mlp.pt
    tsrt doctor mypkg.models:Net --example x=1x3x32x32   (exit 1 when it finds problems)
    tsrt triton-repo mlp.pt repo/ --name mlp              (a Triton model repository)
    cmake -DCMAKE_PREFIX_PATH="$(tsrt cmake-prefix)" ...  (find_package(tsrt) for C++)
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import sys
from typing import Any

# Nothing here imports torch at module level: `tsrt --help`, `--version` and `cmake-prefix`
# start in a fraction of a second; each command imports what it needs.
from tsrt.version import __version__

EXAMPLES = """examples:
  tsrt export --zoo resnet_cnn -o resnet.pt
  tsrt export --zoo resnet_cnn --format aoti -o resnet.pt2     (AOTInductor package)
  tsrt export mypkg.models:make_model -o model.pt --example x=1x3x224x224:float32 --dynamic x:0
  tsrt export mypkg.models:Net -o model.pt --example ids=1x128:int64 --mode script --json
  tsrt inspect model.pt --json
  tsrt export --zoo mlp -o mlp.pt --triton-repo repo/     (also a Triton model repository)
then: ./infer model.pt --verify"""


def _load_factory(target: str, app_dir: str = ".") -> Any:
    """'package.module:callable' -> the module the callable returns (or the class instance)."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected PACKAGE.MODULE:FACTORY, got '{target}'")
    # Like uvicorn's --app-dir: the user's package is found from --app-dir (the current
    # directory by default), as `python -m` would find it, whether or not it is installed.
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    factory = getattr(importlib.import_module(module_name), attribute)
    return factory()


def _parse_dynamic(items: list[str]) -> dict[str, list[int]]:
    dynamic: dict[str, list[int]] = {}
    for item in items:
        name, _, dims = item.partition(":")
        if not name or not dims:
            raise ValueError(f"--dynamic expects NAME:DIM[,DIM], e.g. x:0, got '{item}'")
        dynamic.setdefault(name, []).extend(int(d) for d in dims.split(","))
    return dynamic


def _parse_inductor_configs(items: list[str]) -> dict[str, Any]:
    """--inductor-config KEY=VALUE flags: VALUE as JSON (true, 3, "x") or else a string."""
    configs: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--inductor-config expects KEY=VALUE, e.g. max_autotune=true, got '{item}'")
        try:
            configs[key] = json.loads(value)
        except json.JSONDecodeError:
            configs[key] = value
    return configs


def _export(args: argparse.Namespace) -> int:
    import tsrt
    from tsrt.exporter import ExportError

    def progress(stage: str) -> None:
        if not args.quiet:
            print(f"tsrt export: {stage} ...", file=sys.stderr, flush=True)

    if not args.triton_repo and (args.name or args.max_batch_size is not None):
        raise ValueError("--name and --max-batch-size describe the Triton repository: give --triton-repo DIR too")
    # A .pt2 output is an AOTInductor package unless --format says otherwise.
    fmt = args.format or ("aoti" if args.output.endswith(".pt2") else "torchscript")
    if fmt == "aoti" and args.mode:
        raise ValueError("--mode chooses how TorchScript captures the model; --format aoti always uses torch.export")
    inductor_configs = _parse_inductor_configs(args.inductor_config)
    if inductor_configs and fmt != "aoti":
        raise ValueError("--inductor-config sets how AOTInductor compiles: it needs --format aoti (or a .pt2 output)")
    aoti_options = {"inductor_configs": inductor_configs} if inductor_configs else {}
    try:
        if args.zoo:
            from tsrt import zoo

            report = zoo.get(args.zoo).export(args.output, args.mode or "auto", format=fmt, progress=progress,
                                              **aoti_options)
        else:
            if not args.target or not args.example:
                raise ValueError("give PACKAGE.MODULE:FACTORY and --example for each input (or --zoo NAME)")
            module = _load_factory(args.target, args.app_dir)
            specs, example = _examples_from_flags(args.example, args.dynamic)
            # Without --dynamic, export finds the dimensions that may vary (the specs
            # only name the inputs, which --example already does through `example`).
            report = tsrt.export(module, example, args.output, args.mode or "auto", format=fmt,
                                 input_specs=specs if args.dynamic else None,
                                 golden=0 if args.no_golden else 2, freeze=not args.no_freeze, progress=progress,
                                 **aoti_options)
    except ExportError as error:
        print(error.report if not args.json else json.dumps(vars(error.report), default=str, indent=1), file=sys.stderr)
        return 1
    except tsrt.Error as error:
        print(f"tsrt export: error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(vars(report), default=str, indent=1) if args.json else report)
    if args.triton_repo:
        return _write_triton_repo(args.output, args.triton_repo, args.name, args.max_batch_size)
    return 0


def _write_triton_repo(model: str, repository: str, name: str | None, max_batch_size: int | None) -> int:
    import tsrt
    from tsrt.triton import TritonConfigError, write_repository

    try:
        model_dir = write_repository(model, repository, name, max_batch_size)
    except (TritonConfigError, tsrt.Error) as error:
        print(f"tsrt triton-repo: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {model_dir}/config.pbtxt and the model under {model_dir}/1/")
    return 0


def _triton_repo(args: argparse.Namespace) -> int:
    return _write_triton_repo(args.model, args.repository, args.name, args.max_batch_size)


def _torchvision_ops_library(args: argparse.Namespace) -> int:
    import tsrt

    print(tsrt.torchvision_ops_library())
    return 0


def _cmake_prefix(args: argparse.Namespace) -> int:
    import tsrt

    print(tsrt.cmake_prefix_path)
    return 0


def _examples_from_flags(example_flags: list[str], dynamic_flags: list[str]) -> tuple[list, dict]:
    """TensorSpecs (with dynamic dims) and random example tensors from --example/--dynamic."""
    import torch

    from tsrt.spec import TensorSpec, default_dynamic_dims

    specs = [TensorSpec.parse(text) for text in example_flags]
    dynamic = _parse_dynamic(dynamic_flags)
    unknown = set(dynamic) - {s.name for s in specs}
    if unknown:
        raise ValueError(f"--dynamic names unknown inputs: {', '.join(sorted(unknown))}")
    generator = torch.Generator().manual_seed(0)
    specs = [TensorSpec(s.name, s.shape, s.dtype, tuple(dynamic.get(s.name, default_dynamic_dims(len(s.shape)))))
             for s in specs]
    return specs, {s.name: s.random(generator) for s in specs}


def _doctor(args: argparse.Namespace) -> int:
    from tsrt.doctor import diagnose, format_report

    module = _load_factory(args.target, args.app_dir)
    example = tuple(_examples_from_flags(args.example, [])[1].values()) if args.example else None
    diagnoses = diagnose(module, example)
    if args.json:
        print(json.dumps([dataclasses.asdict(d) for d in diagnoses], indent=1))
    else:
        print(format_report(diagnoses))
    return 1 if diagnoses else 0


def _inspect(args: argparse.Namespace) -> int:
    import tsrt
    from tsrt import _C

    # Nothing of the file runs: a .pt2's library is not loaded (dlopen runs its
    # constructors), and a .pt whose __setstate__ would run inside torch.jit.load is
    # audited from its code alone.
    code_audit = None
    if args.audit:
        try:
            code_audit = _C.audit_code(os.fsencode(args.model))
        except tsrt.Error as error:
            if error.code != "unsupported":
                return _inspect_failed(error)
            # A compiled package: machine code, no source. An empty list would read as
            # "nothing to fear".
            print(f"tsrt inspect: {args.model} is a compiled AOTInductor package: its operators are machine code "
                  "and cannot be audited; review the model's source, or audit a TorchScript export of it",
                  file=sys.stderr)
            return 1
        if code_audit["runs_at_load"] and code_audit["audit"]:
            print(f"tsrt inspect: {args.model} defines __setstate__ ({code_audit['runs_at_load'][0]}), which "
                  "loading runs: audited from its code, not loaded", file=sys.stderr)
            _print_audit(code_audit["audit"], args.json)
            return 0
    try:
        # The file as written: not the graph tsrt's load-time optimisation makes of it.
        model = tsrt.load(args.model, describe_only=True)
    except tsrt.Error as error:
        return _inspect_failed(error)
    if args.audit:
        # The loaded graphs (every method, called function and fork target) and the code text agree on
        # what reaches outside tensors; the union is what the reviewer must see.
        audit = set(json.loads(model.report(as_json=True))["audit"]) | set(code_audit["audit"])
        _print_audit(sorted(audit), args.json)
        return 0
    print(model.report(as_json=args.json, with_code=not args.no_code))
    return 0


def _inspect_failed(error: Exception) -> int:
    print(f"tsrt inspect: error: {error}", file=sys.stderr)
    return 2 if getattr(error, "code", None) in ("io", "invalid_argument") else 1


def _print_audit(audit: list, as_json: bool) -> None:
    if as_json:
        print(json.dumps(audit))
    else:
        print("\n".join(audit) if audit else "nothing reaches outside tensors: no file reads, prints, raises or custom operators")


def _triton_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="the model's name in the repository (default: the file name up to its first dot)")
    parser.add_argument("--max-batch-size", type=int, metavar="N",
                        help="Triton's max_batch_size (default 8 when every input and output has a batch "
                             "dimension 0, else 0; 0 turns batching off)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tsrt", description="Export PyTorch models for the tsrt C++ runtime.",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"tsrt {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="export a model to a self-describing TorchScript file or .pt2 package",
                                 epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("target", nargs="?", help="PACKAGE.MODULE:FACTORY returning an nn.Module")
    export.add_argument("--zoo", help="a model of tsrt's zoo (tsrt.zoo) instead of a target")
    export.add_argument("--app-dir", default=".", metavar="DIR",
                        help="where to import PACKAGE.MODULE from when it is not installed (default: .)")
    export.add_argument("-o", "--output", required=True, help="the .pt (or .pt2) file to write")
    export.add_argument("--format", choices=("torchscript", "aoti"),
                        help="torchscript (.pt), or aoti: torch.export + AOTInductor package (.pt2); "
                             "default: aoti for a .pt2 output, else torchscript")
    export.add_argument("--example", action="append", default=[], metavar="NAME=DIMS:DTYPE",
                        help="an input and its example shape, e.g. x=1x3x224x224:float32 (repeat per input, in order)")
    export.add_argument("--dynamic", action="append", default=[], metavar="NAME:DIM[,DIM]",
                        help="dimensions of an input that may vary (default: the batch dimension 0)")
    export.add_argument("--mode", choices=("auto", "trace", "script"), help="capture mode (default auto)")
    export.add_argument("--inductor-config", action="append", default=[], metavar="KEY=VALUE",
                        help="an Inductor setting for --format aoti, on top of tsrt's (freezing=true), e.g. "
                             "max_autotune=true (repeat per setting; see docs/speed.md)")
    export.add_argument("--no-golden", action="store_true", help="record no golden input/output pairs")
    export.add_argument("--no-freeze", action="store_true", help="keep the module unfrozen")
    export.add_argument("--json", action="store_true", help="print the report as JSON")
    export.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    export.add_argument("--triton-repo", metavar="DIR", help="also write a Triton model repository for the file into DIR")
    _triton_flags(export)
    export.set_defaults(run=_export)
    triton = commands.add_parser("triton-repo", help="write a Triton model repository (config.pbtxt + model) for a model file",
                                 epilog="example: tsrt triton-repo mlp.pt repo/ --name mlp --max-batch-size 16\n"
                                        "then: tritonserver --model-repository=repo/",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    triton.add_argument("model", help="a .pt file exported by tsrt")
    triton.add_argument("repository", help="the model repository directory (created if missing)")
    _triton_flags(triton)
    triton.set_defaults(run=_triton_repo)
    prefix = commands.add_parser("cmake-prefix", help="print the directory to put in CMAKE_PREFIX_PATH for find_package(tsrt)")
    prefix.set_defaults(run=_cmake_prefix)
    tv_ops = commands.add_parser("torchvision-ops-library",
                                 help="print the path of tsrt's torchvision operator library, for "
                                      "infer --load-library (torchvision detection models)")
    tv_ops.set_defaults(run=_torchvision_ops_library)
    doctor = commands.add_parser("doctor", help="diagnose why a model will not export to TorchScript",
                                 epilog="example: tsrt doctor mypkg.models:make_model --example x=1x3x224x224",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    doctor.add_argument("target", help="PACKAGE.MODULE:FACTORY returning an nn.Module")
    doctor.add_argument("--app-dir", default=".", metavar="DIR",
                        help="where to import PACKAGE.MODULE from when it is not installed (default: .)")
    doctor.add_argument("--example", action="append", default=[], metavar="NAME=DIMS:DTYPE",
                        help="example inputs: with them, doctor also traces (frozen control flow, baked devices)")
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")
    doctor.set_defaults(run=_doctor)
    inspect = commands.add_parser("inspect", help="describe a model file: inputs, outputs, operators, warnings")
    inspect.add_argument("model", help="a .pt or .pt2 file")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.add_argument("--no-code", action="store_true", help="leave out the forward code")
    inspect.add_argument("--audit", action="store_true",
                         help="list only the operators that reach outside tensors (file reads, prints, raises, custom ops)")
    inspect.set_defaults(run=_inspect)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (KeyError, ValueError, ImportError, AttributeError) as error:
        print(f"tsrt {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
