"""Stage 13, the command line ``pc-analog`` (one module per subcommand).
"""
