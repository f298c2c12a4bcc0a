"""flax-regressions: which known Flax bugs still bite on a release, and which workarounds still work.

The package is layered; a module imports only from its own layer or the ones listed before it:

    core      paths, the results model, what counts as the same failure, exit statuses
    spec      matrix.yaml (its rules, validation and editing) and the releases on the registry
    running   the environments and the pytest run of one cell
    incell    what runs inside a cell's interpreter: the pytest plugin, the conformance and property tests
    tools     the report, the gate, the bug report, bisect and sweep: they compute, they do not print
    render    every Markdown document and the job summary
    commands  the command lines (nox sessions and the flax-regressions tool call them): arguments, output
              files, exit statuses
"""
