"""The service layer: every rule of modelbay, called by the SDK (embedded) and the server alike."""

from __future__ import annotations

from dataclasses import dataclass

from modelbay.blobs import BlobBackend, open_backend
from modelbay.services.access import AccessService
from modelbay.services.artifacts import ArtifactService
from modelbay.services.audit import AuditService
from modelbay.services.auth import AuthService
from modelbay.services.automations import AutomationService
from modelbay.services.blobs import BlobService
from modelbay.services.core import Principal
from modelbay.services.distributed import DistributedService
from modelbay.services.garbage import GarbageService
from modelbay.services.health import HealthService
from modelbay.services.jobs import JobService
from modelbay.services.lifecycle import LifecycleService
from modelbay.services.lineage import LineageService
from modelbay.services.promotions import PromotionService
from modelbay.services.registry import RegistryService, ensure_core_registries
from modelbay.services.runs import RunService
from modelbay.services.search import SearchService
from modelbay.services.sessions import SessionService
from modelbay.services.tables import TableService
from modelbay.services.views import ViewService
from modelbay.settings import Settings, private_dir
from modelbay.store.database import Database, WouldWait


@dataclass
class Services:
    """Everything a transport needs, built once per process from the settings."""

    db: Database
    backend: BlobBackend
    blobs: BlobService
    garbage: GarbageService
    auth: AuthService
    runs: RunService
    artifacts: ArtifactService
    registry: RegistryService
    lineage: LineageService
    views: ViewService
    access: AccessService
    promotions: PromotionService
    health: HealthService
    automations: AutomationService
    tables: TableService
    search: SearchService
    jobs: JobService
    audit: AuditService
    sessions: SessionService
    lifecycle: LifecycleService
    distributed: DistributedService

    @classmethod
    def open(cls, settings: Settings) -> Services:
        private_dir(settings.data_dir)
        db = Database(settings.database_url, migrate=settings.migrates)
        db.check_schema()
        ensure_core_registries(db)
        backend = open_backend(
            settings.blob_store,
            settings.data_dir / "blobs",
            s3_endpoint_url=settings.s3_endpoint_url,
        )
        blobs = BlobService(db, backend, part_size=settings.upload_part_size)
        artifacts = ArtifactService(db, blobs)
        return cls(
            db=db,
            backend=backend,
            blobs=blobs,
            garbage=GarbageService(db, backend),
            auth=AuthService(db),
            runs=RunService(db, run_timeout=settings.run_timeout),
            artifacts=artifacts,
            registry=RegistryService(db),
            lineage=LineageService(db),
            views=ViewService(db, blobs, run_timeout=settings.run_timeout),
            access=AccessService(db),
            promotions=PromotionService(db),
            health=HealthService(db, backend),
            automations=AutomationService(db, settings),
            tables=TableService(db, blobs, settings.data_dir / "table-cache"),
            search=SearchService(db, run_timeout=settings.run_timeout),
            jobs=JobService(db),
            audit=AuditService(db),
            sessions=SessionService(db),
            lifecycle=LifecycleService(db),
            distributed=DistributedService(db, artifacts),
        )

    def close(self) -> None:
        self.db.dispose()
        self.backend.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Principal", "Services", "WouldWait"]
