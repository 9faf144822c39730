import os

from hypothesis import HealthCheck, settings

# "ci" (the default) is derandomised so that a run is repeatable; "dev" explores more.
settings.register_profile("ci", derandomize=True, max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("NPCONV_HYPOTHESIS_PROFILE", "ci"))
