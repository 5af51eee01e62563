"""Stage 13, the command line ``pc-analog``: one module per subcommand.

:mod:`~pc_analog.cli.main` assembles the parser and owns the exit statuses; ``settle``,
``grads``, ``compile``, ``simulate`` and ``train`` each hold one subcommand's options
(``add_parser``) and its ``run``; ``bench`` is the group of ``timing`` (``bench timing``)
and ``sweep`` (``bench sweep``); ``_common`` holds the shared argument helpers.
"""
