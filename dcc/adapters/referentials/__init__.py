"""Readers of referential source files (agency SVS value sets, terminologies in RDF/XML, CSV formats)."""

from dcc.adapters.referentials.readers import read_file, read_path

__all__ = ["read_file", "read_path"]
