"""Handlers whose annotations name classes imported only for type checkers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from torchsystem.depends import Depends, Provider, inject

if TYPE_CHECKING:
    import numbers  # never imported at run time
    from decimal import Decimal

    from tests.depends._nowhere import Session, open_session  # does not exist at all


def get_session() -> str:
    return "session"


def make_handler(provider: Provider) -> object:
    """A handler whose dependency's annotated type cannot be resolved at run time."""

    @inject(provider)
    def handler(model: str, session: Annotated[Session, Depends(get_session)]) -> str:
        return f"{model} with {session}"

    return handler


def make_handler_with_unresolvable_union(provider: Provider) -> object:
    @inject(provider)
    def handler(session: Annotated[Session | Decimal | None, Depends(get_session)]) -> str:
        return session

    return handler


def make_handler_with_unresolvable_dependency(provider: Provider) -> object:
    """The dependency itself is only known to type checkers: nothing can be called."""

    @inject(provider)
    def handler(session: Annotated[str, Depends(open_session)]) -> str:
        return session

    return handler


def make_handler_with_unresolvable_annotated(provider: Provider) -> object:
    """``Annotated`` itself is only known to type checkers: the marker cannot be read."""
    if TYPE_CHECKING:
        from typing import Annotated as Described

    @inject(provider)
    def handler(session: Described[str, Depends(get_session)]) -> str:
        return session

    return handler


def make_handler_with_unresolvable_attributes_and_generics(provider: Provider) -> object:
    @inject(provider)
    def handler(
        a: Annotated[numbers.Real, Depends(get_session)],
        b: Annotated[Session[int] | None, Depends(get_session)],
        c: Annotated[list[Session], Depends(get_session)],
    ) -> str:
        return a + b + c

    return handler


def make_handler_with_bare_depends_on_an_unresolvable_type(provider: Provider) -> object:
    @inject(provider)
    def handler(session: Annotated[Session, Depends()]) -> str:
        return session

    return handler
