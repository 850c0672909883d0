"""Fixtures of the scale-out tests: the shared SeaweedFS (PostgreSQL comes from tests/)."""

from support import seaweed

seaweed_s3 = seaweed.seaweed_s3
