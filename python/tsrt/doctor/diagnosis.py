"""What the doctor reports: a `Diagnosis` (kind, location, construct, rewrite), the
kinds it knows (`KINDS`), and the rewrite for each kind when a finding comes
without a node to tailor it to (`DEFAULT_REWRITE`).

Every stage of the doctor makes diagnoses, so this module imports none of them
(only `doctor.source`, to show a location): the stages and the package's
`__init__` import it, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass

from tsrt.doctor.source import display_location

# kind -> what the report calls it. Kinds are stable ids: tools may match on them.
KINDS: dict[str, str] = {
    "generator_expression": "generator expression",
    "list_comprehension_with_condition": "comprehension with `if`",
    "set_comprehension": "set comprehension",
    "dict_comprehension": "dict comprehension",
    "set_type": "set",
    "lambda": "lambda",
    "varargs": "variable or keyword-only arguments",
    "modulelist_variable_index": "module container indexed by a variable",
    "unresolvable_submodule_call": "submodule call the compiler cannot resolve",
    "super_call": "super() call",
    "none_default_unannotated": "None default without Optional",
    "source_unavailable": "source code unavailable",
    "tensor_constant_in_trace": "tensor constant baked into the trace",
    "device_constant_in_trace": "device constant baked into the trace",
    "data_dependent_control_flow": "data-dependent control flow under tracing",
    "script_error": "TorchScript cannot compile",
    "trace_failed": "tracing failed",
    "trace_warning": "trace warning",
}

# The rewrite when a finding comes without a node to tailor it to (script errors).
DEFAULT_REWRITE: dict[str, str] = {
    "generator_expression": "use a list comprehension `[... for ... in ...]` or a for loop",
    "list_comprehension_with_condition": "use a for loop that appends when the condition holds",
    "set_comprehension": "use a list (comprehension), dropping duplicates in a loop with `if v not in out`",
    "dict_comprehension": "build the dict in a for loop: `d = {}` then `d[k] = v`",
    "set_type": "use a List (membership with `in`) or a Dict[K, bool]; annotate with typing.List/Dict",
    "lambda": "define a named function (a method, or a module-level def) and call it",
    "varargs": "give the compiled function an explicit positional signature (no *args/**kwargs, "
               "no keyword-only defaults); wrap the module if callers need keywords",
    "modulelist_variable_index": "iterate instead: `for i, layer in enumerate(self.layers): ...` "
                                 "(ModuleDict: `for name, m in self.heads.items(): ...`), or index with a literal",
    "unresolvable_submodule_call": "call each submodule by attribute (`self.fc(x)`), or register them in an "
                                   "nn.ModuleList/ModuleDict and iterate it; getattr(self, ...) needs a string literal",
    "super_call": "inline the parent's forward, or use composition: hold the parent module as a submodule "
                  "and call it",
    "none_default_unannotated": "annotate it `Optional[...]` (e.g. `mask: Optional[torch.Tensor] = None`)",
    "source_unavailable": "define the module in an importable .py file (not exec(), a REPL or a frozen app) and "
                          "export where the .py sources are present",
    "tensor_constant_in_trace": "register it as a buffer in __init__ "
                                "(`self.register_buffer('name', torch.tensor(...))`) or build it from an input",
    "device_constant_in_trace": "create tensors from an input (`torch.zeros_like(x)`, `x.new_zeros(shape)`) or a "
                                "registered buffer, script this helper, or trace on the deployment device",
    "data_dependent_control_flow": "script this code (torch.jit.script / @torch.jit.script_if_tracing) or use "
                                   "tensor ops (torch.where, masking) instead of Python control flow",
    "script_error": "rewrite the construct with TorchScript-supported Python, or mark a Python-only method "
                    "@torch.jit.ignore / @torch.jit.unused",
    "trace_failed": "the example inputs must run through the model eagerly, and a traced model may return only "
                    "tensors and tuples/lists/dicts of tensors; otherwise export with mode='script'",
    "trace_warning": "check that this value does not depend on the input, or script this code",
}


@dataclass(frozen=True)
class Diagnosis:
    """One reason a model will not export, or exports wrongly, and how to fix it."""

    kind: str        # stable id, one of KINDS
    location: str    # "path/to/file.py:LINE" in the user's source; "" only when truly unknown
    construct: str   # what was found, as written in the source
    rewrite: str     # the concrete fix

    def __str__(self) -> str:
        where = f"{display_location(self.location)}: " if self.location else ""
        return f"{where}{KINDS.get(self.kind, self.kind)} `{self.construct}`: {self.rewrite}"
