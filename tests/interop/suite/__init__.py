"""The edgesip interop suite: real Kamailio, baresip and sipp around edgesip,
each in its own network namespace (see tests/interop/README.md)."""
