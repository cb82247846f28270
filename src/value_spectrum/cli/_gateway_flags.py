"""The model-gateway flags shared by ``simulate``, ``probe`` and ``bench preference``: rate limits,
retries, timeout, fallbacks and response format of every model call
(``runner.config.GatewayConfig``) and ``--modality``. Whether a model shown frames takes images
is checked by the run itself (``runner.checks.preflight``), the same from Python.

Names follow litellm's Router vocabulary where a flag can (``--rpm``, ``--tpm``); the others are
the short forms of the Gateway's options (``--max-parallel`` for ``max_parallel_requests``,
``--timeout`` for ``timeout_s``, ``--retries`` for ``num_retries``, ``--fallback`` for one entry
of ``fallbacks``). Values are checked by :class:`GatewayConfig`, not by typer, so a bad one is a
one-line error naming the flag and the value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from value_spectrum.cli._console import fail

if TYPE_CHECKING:
    from pydantic import ValidationError

    from value_spectrum.runner.config import GatewayConfig

RpmOption = Annotated[
    int | None, typer.Option("--rpm", help="Requests per minute to each model, across all sessions (default: unlimited).")
]
TpmOption = Annotated[int | None, typer.Option("--tpm", help="Tokens per minute to each model (default: unlimited).")]
MaxParallelOption = Annotated[
    int | None, typer.Option("--max-parallel", help="Requests in flight to each model at once (default: unlimited).")
]
TimeoutOption = Annotated[float | None, typer.Option("--timeout", help="Seconds per model request attempt (default: 120).")]
RetriesOption = Annotated[int | None, typer.Option("--retries", help="Retries of server errors and timeouts (default: 3).")]
RateLimitRetriesOption = Annotated[
    int | None,
    typer.Option("--rate-limit-retries", help="Retries of 429s and rate-limit waits (default: 10; keep >= concurrency / rpm)."),
]
FallbackOption = Annotated[
    list[str] | None,
    typer.Option("--fallback", help="Model tried when a model keeps failing (repeatable, in order; same --api-base)."),
]

ResponseFormatOption = Annotated[
    str | None,
    typer.Option(
        "--response-format",
        help="Structured output: auto (JSON schema; on a rejection json_object, then plain text, remembered for the run) "
        "| json_schema | json_object | text.",
    ),
]
ModalityOption = Annotated[
    str, typer.Option("--modality", help="What the model sees of each video: frames | caption | title.")
]
MODALITIES = ("frames", "caption", "title")

FLAGS: dict[str, str] = {
    "max_parallel_requests": "max-parallel",
    "timeout_s": "timeout",
    "num_retries": "retries",
    "rate_limit_retries": "rate-limit-retries",
    "fallbacks": "fallback",
}
"""GatewayConfig field -> its flag (without ``--``), where the names differ."""


def flag_of(field: str) -> str:
    """``--flag`` of a GatewayConfig field."""
    return "--" + FLAGS.get(field, field.replace("_", "-"))


def error_line(exc: ValidationError, flags: dict[str, str] | None = None) -> str:
    """One line for the first error of a RunConfig or GatewayConfig: ``--flag: message (got value)``.

    Args:
        exc: the validation error.
        flags: field -> flag (without ``--``) for RunConfig fields whose flag has another name.
    """
    err = exc.errors()[0]
    loc = [str(part) for part in err["loc"]]
    if loc and loc[0] == "gateway" and len(loc) > 1:
        flag = flag_of(loc[1])
    elif loc:
        flag = flag_of(loc[0]) if loc[0] in FLAGS else "--" + (flags or {}).get(loc[0], loc[0]).replace("_", "-")
    else:
        flag = "--options"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if "input" in err and "(got " not in msg and repr(err["input"]) not in msg:
        msg += f" (got {err['input']!r})"
    return f"{flag}: {msg}"


def gateway_config(
    *,
    models: tuple[str, ...],
    rpm: int | None = None,
    tpm: int | None = None,
    max_parallel: int | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    rate_limit_retries: int | None = None,
    fallback: list[str] | None = None,
    response_format: str | None = None,
) -> GatewayConfig:
    """The GatewayConfig of the flags; exits with a one-line error on a bad value, or when a
    flag is given and no model is an LLM (the reference viewer makes no model calls)."""
    from pydantic import ValidationError

    from value_spectrum.runner.config import GatewayConfig

    try:
        config = GatewayConfig(
            rpm=rpm, tpm=tpm, max_parallel_requests=max_parallel, timeout_s=timeout, num_retries=retries,
            rate_limit_retries=rate_limit_retries, fallbacks=tuple(fallback or ()),
            response_format=response_format,  # type: ignore[arg-type]
        )
    except ValidationError as exc:
        fail(error_line(exc))
    check_models(config, models)
    return config


def check_models(config: GatewayConfig, models: tuple[str, ...]) -> None:
    """Exit with a one-line error when a gateway flag is given and every model is ``reference``
    (the run's own check, :func:`~value_spectrum.runner.checks.unused_gateway_option`, early and
    in the flag's name)."""
    from value_spectrum.runner.checks import unused_gateway_option

    unused = unused_gateway_option(config, models)
    if unused is not None:
        fail(f"{flag_of(unused)}: only used with model viewers (--model other than reference)")


def check_modality_name(modality: str | None) -> None:
    """Exit with a one-line usage error for an unknown ``--modality``."""
    if modality is not None and modality not in MODALITIES:
        fail(f"--modality: unknown modality {modality!r}; choose {', '.join(MODALITIES)}")
