"""``python -m src COMMAND [OPTIONS]``: the application's command line (``--help`` lists
the commands; ``serve`` starts the HTTP server)."""

from src.app import app

if __name__ == "__main__":
    raise SystemExit(app.main(prog="python -m src"))
