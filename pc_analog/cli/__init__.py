"""Stage 13, the command line ``pc-analog``: one module per subcommand.

:mod:`~pc_analog.cli.main` assembles the parser and owns the exit statuses; ``settle``,
``grads``, ``compile``, ``simulate``, ``train``, ``bench`` (with ``bench timing``) and
``sweep`` (``bench sweep``) each hold one subcommand's options and its ``run``;
``_common`` the shared argument helpers.
"""
