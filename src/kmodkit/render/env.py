"""The Jinja2 environment for templates/: strict, so a missing value fails instead of
rendering an empty string into a Makefile."""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2

from kmodkit.errors import RenderError
from kmodkit.resources import templates_dir


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render_template(name: str, **context: Any) -> str:
    try:
        return environment().get_template(name).render(**context)
    except jinja2.TemplateError as exc:
        raise RenderError(f"template failed: {exc}", where=f"templates/{name}") from None
