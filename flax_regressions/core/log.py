"""How a command says what it is doing, line by line: a function it is given (print, nox's session.log, a
progress display), never a stream a lower layer picks itself."""

from collections.abc import Callable

Log = Callable[[str], None]
