"""The dependency-injection engine behind :mod:`torchsystem.depends` (private).

Two phases, as in FastAPI: a *plan* is built from signatures once (``plan``), then turned
into straight-line Python source (``codegen``) that resolves dependencies per call with
no inspection at all. ``runtime`` holds the few helpers generated code calls.
"""
