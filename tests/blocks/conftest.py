from __future__ import annotations

import pytest
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites import BlockStandardTestSuite


class OfflineBlockTestSuite(BlockStandardTestSuite):
    """Prefect's standard block checks, less the one that downloads the logo image."""

    @pytest.mark.skip(reason="it downloads the logo from the internet, which this machine cannot reach")
    def test_has_a_valid_image(self, block: type[Block]) -> None:  # pragma: no cover
        pass


def standard_checks(*blocks: type[Block]) -> type[OfflineBlockTestSuite]:
    """The offline standard checks as one test class, run once for each of `blocks` (ids: class names)."""

    class StandardChecks(OfflineBlockTestSuite):
        @pytest.fixture(params=blocks, ids=lambda block: block.__name__)
        def block(self, request: pytest.FixtureRequest) -> type[Block]:
            return request.param

    return StandardChecks
