"""book_recs file for ensuring the package is executable
as `book-recs` and `python -m book_recs`

`book-recs [options]` is `kedro run [options]`; `book-recs recommend [options]` prints one
reader's recommendations from the registered model (`book-recs recommend --help`).
"""
import sys
from pathlib import Path
from typing import Any

from book_recs.serving.cli import recommend


def main(*args, **kwargs) -> Any:
    interactive = hasattr(sys, 'ps1')
    kwargs["standalone_mode"] = not interactive

    arguments = list(args[0]) if args else sys.argv[1:]
    if arguments[:1] == [recommend.name]:
        # Before Kedro is imported: importing it logs its logging set-up, which is no part of
        # the table this command prints.
        return recommend.main(arguments[1:], prog_name=f"book-recs {recommend.name}", **kwargs)

    from kedro.framework.cli.utils import find_run_command
    from kedro.framework.project import configure_project

    package_name = Path(__file__).parent.name
    configure_project(package_name)
    run = find_run_command(package_name)
    return run(*args, **kwargs)


if __name__ == "__main__":
    main()
