"""User-facing errors: each is one sentence naming the file, node or limit at fault."""


class SnnCompileError(Exception):
    """Base class; the CLI prints str(error) as one line and exits non-zero."""


class ModelLoadError(SnnCompileError):
    """A model file cannot be read, or would run code to be read."""


class Named:
    """What an UnsupportedOp names when the fault is no single op: "node 'n' (Op)", an edge."""

    def __init__(self, name: str):
        self.name = name


class UnsupportedOp(SnnCompileError):
    """An op (or a feature of it) has no rule in some stage (front end, pass, back end)."""

    def __init__(self, op: object, where: str, detail: str = ""):
        name = getattr(op, "name", None) or type(op).__name__
        msg = f"{where}: {name} is not supported"
        super().__init__(msg + (f" ({detail})" if detail else ""))


class GraphCheckError(SnnCompileError):
    """A graph broke an invariant (shapes, edges, value ranges) before or after a pass."""


class InputError(SnnCompileError):
    """An input array does not fit the compiled model."""


class SilentInputError(SnnCompileError):
    """An analog input's range so small that every weight from the input rounds to 0: the
    build would ignore its input. `source` names where the range came from (api.build: the
    calibration file or --input-range; api.verify: the verify input)."""

    def __init__(self, sentence: str, source: str | None = None):
        super().__init__(f"{source}: {sentence}" if source else sentence)
        self.sentence = sentence
