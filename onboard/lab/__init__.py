"""The offline practice lab: a local AWS (moto plus onboard's Session Manager layer) on 127.0.0.1."""
