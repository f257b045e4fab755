"""The ``kmodkit`` console script: invoke's ``Program`` over the tasks of ``kmodkit.cli.tasks``.

Runs from any directory (no tasks.py lookup). Two conveniences invoke's parser lacks:
``kmodkit verify A B C`` (bare words after a task with a repeatable ``--path`` option are more
paths) and ``kmodkit verify --help`` (invoke would read ``--help`` as the missing positional).
"""

from __future__ import annotations

import copy
import sys

from invoke.collection import Collection
from invoke.parser.context import ParserContext
from invoke.program import Program

from kmodkit import __version__
from kmodkit.cli import stdout_closed

#: A task with an iterable option of this name takes extra bare words as more values of it.
VARIADIC_OPTION = "--path"
HELP_FLAGS = ("-h", "--help")


def _takes_value(context: ParserContext, token: str) -> bool:
    """Whether ``token`` is a flag of ``context`` whose value is the next word."""
    if "=" in token or token not in context.flags:
        return False
    return bool(context.flags[token].takes_value)


def rewrite_task_argv(tokens: list[str], contexts: dict[str, ParserContext]) -> list[str]:
    """Map bare extra words to ``--path WORD``; return ``["--help", task]`` for a task's --help.

    ``tokens`` are the words after the core options. A task that has a ``--path`` option takes
    every further bare word as a path (so it ends the command line); for the other tasks the words
    are left for invoke to parse. Words after ``--`` are never touched.
    """
    out: list[str] = []
    context: ParserContext | None = None
    positionals_left = 0
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "--":
            return out + tokens[i:]
        switching = not positionals_left and not (context and _variadic(context))
        if context is None or (switching and token in contexts):
            if token in contexts:
                context = contexts[token]
                positionals_left = len(context.positional_args)
            out.append(token)
        elif token in HELP_FLAGS:
            return ["--help", str(context.name)]
        elif token.startswith("-") and token != "-":
            out.append(token)
            if _takes_value(context, token) and i + 1 < len(tokens):
                i += 1
                out.append(tokens[i])
        elif positionals_left:
            positionals_left -= 1
            out.append(token)
        elif _variadic(context):
            out += [VARIADIC_OPTION, token]
        else:
            out.append(token)
        i += 1
    return out


def _variadic(context: ParserContext) -> bool:
    return VARIADIC_OPTION in context.flags and context.flags[VARIADIC_OPTION].kind is list


#: The core options that mean something for kmodkit (the others drive shell commands, which
#: kmodkit's tasks never run through invoke); the rest still parse but are not advertised.
SHOWN_CORE_OPTIONS = ("--help", "--version", "--list", "--debug", "--print-completion-script")


class KmodkitProgram(Program):
    """invoke's Program with the argv conveniences of :func:`rewrite_task_argv`."""

    def print_help(self) -> None:
        print(f"Usage: {self.binary} [--help] [--version] <task> [--task-options] ...")
        print(f"       {self.binary} <task> --help\n")
        print("Options:\n")
        tuples = self.initial_context.help_tuples()
        shown = [t for t in tuples if any(flag in t[0] for flag in SHOWN_CORE_OPTIONS)]
        self.print_columns(shown)
        self.list_tasks()

    def parse_tasks(self) -> None:
        # invoke pops each option's help text while it builds contexts, so a second build
        # (the parser's, below) would have none: look at a copy here.
        contexts = {
            str(ctx.name): ctx
            for ctx in copy.deepcopy(self.collection).to_contexts(
                ignore_unknown_help=self.config.tasks.ignore_unknown_help
            )
        }
        words = rewrite_task_argv(list(self.core.unparsed), contexts)
        if words[:1] == ["--help"]:
            self.args.help.value = words[1]
            words = []
        self.core.unparsed = words
        super().parse_tasks()


def program(namespace: Collection | None = None) -> KmodkitProgram:
    from kmodkit.cli.tasks import fresh_namespace

    return KmodkitProgram(
        version=__version__,
        namespace=namespace or fresh_namespace(),
        name="kmodkit",
        binary="kmodkit",
        binary_names=["kmodkit"],
    )


def main() -> None:
    """Entry point of the ``kmodkit`` console script."""
    try:
        try:
            program().run()
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
    except BrokenPipeError:  # help or a listing piped into `head`
        stdout_closed()
