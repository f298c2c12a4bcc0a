"""The command lines: parse arguments, run a tool, write its files, print, and return the exit status."""
