"""CEL as Kyverno 1.19 compiles it for a ValidatingPolicy, offline.

The evaluator is `cel-expr-python` (Google's CEL C++ runtime, `cel_expr_python`), the one Python CEL of the
three evaluated that parses and evaluates CEL optional types as Kubernetes and Kyverno use them
(`obj.?field`, `.orValue()`, `optional.of`, `m[?key]`): `cel-python` 0.5.0 (module `celpy`) rejects `.?` with
a parse error and has no `orValue`; `common-expression-language` 0.10.0 (cel-rust 0.14) has
`optional.of`/`orValue` but its parser answers "unsupported syntax '.?'". No shim is needed.

Kyverno's environment (kyverno v1.19.0 pkg/cel/policies/vpol/compiler/compiler.go and
pkg/cel/compiler/env.go): `object` and `oldObject` are `dyn` (no schema typing), `request`,
`namespaceObject` and `variables` beside them, the optional types, and cel-go's strings, lists, math,
sets, regex, encoders and bindings extensions. Declared here: the five variables (`dyn`), the optional
types and the strings, math, encoders and bindings extensions (the ones cel-expr-python ships). Not here:
cel-go's lists, sets and regex extensions, Kyverno's own libraries (`http`, `resource`, `image`,
`globalContext`, ...) and the Kubernetes ones (`quantity`, `ip`, `cidr`, `url`, `semver`, `format`): an
expression that calls one fails to compile here and the check says so, rather than guessing what it would
return. cel-go's homogeneous-literal rule (Kyverno refuses `[1, 'a']`) is not enforced either.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_bindings, ext_encoders, ext_math, ext_optional, ext_strings

VARIABLES = ("object", "oldObject", "request", "namespaceObject", "variables")


class CelCompileError(ValueError):
    """An expression Kyverno's compiler would refuse (syntax, undeclared function, not a bool)."""


@dataclass(frozen=True)
class Outcome:
    """One evaluation: a value, or the error Kyverno's runtime would return (`error` set)."""

    value: Any = None
    error: str | None = None


@lru_cache(maxsize=1)
def environment() -> Any:
    extensions = [ext_optional.ExtOptional(), ext_strings.ExtStrings(), ext_math.ExtMath(),
                  ext_encoders.ExtEncoders(), ext_bindings.ExtBindings()]
    return cel.NewEnv(variables={name: cel.Type.DYN for name in VARIABLES}, extensions=extensions)


@lru_cache(maxsize=4096)
def compile_expression(expression: str, want: str = "bool") -> Any:
    """The compiled program, type-checked against the declarations above; compiled once per expression."""
    try:
        program = environment().compile(expression)
    except RuntimeError as error:
        raise CelCompileError(str(error).replace("INVALID_ARGUMENT: ", "").strip()) from None
    wanted = {"bool": cel.Type.BOOL, "string": cel.Type.STRING}.get(want)
    returned = program.return_type()
    if wanted is not None and returned != wanted and returned != cel.Type.DYN:
        raise CelCompileError(f"returns {returned.name()}, not {want}")
    return program


def evaluate(expression: str, data: dict[str, Any], want: str = "bool") -> Outcome:
    """Evaluate against `data` (plain JSON values); an error value (a missing key, a wrong type) is an Outcome error."""
    program = compile_expression(expression, want)
    result = program.eval(data={name: data.get(name) for name in VARIABLES})
    if result.type() == cel.Type.ERROR:
        return Outcome(error=str(result.value()))
    value = result.plain_value()  # plain Python values (value() keeps CEL accessors that cannot be bound again)
    if want == "bool" and not isinstance(value, bool):
        return Outcome(error=f"evaluated to {value!r}, not a bool")
    return Outcome(value=value)
