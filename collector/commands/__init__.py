"""The collector's commands, one module each: ``add_parser(commands)`` and ``execute(args)``."""
