"""The dashboard is served by the app from files in the package: nothing from elsewhere."""

import re

import httpx

from app.dashboard.router import STATIC


async def test_the_page_and_its_assets_come_from_the_service(client: httpx.AsyncClient) -> None:
    page = await client.get("/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assets = re.findall(r'(?:src|href)="([^"#]+)"', page.text)
    assert assets
    for asset in assets:
        if asset.startswith("data:"):
            continue
        assert asset.startswith("/dashboard/static/"), asset
        answer = await client.get(asset)
        assert answer.status_code == 200, asset
    root = await client.get("/", follow_redirects=False)
    assert root.status_code in (302, 307)
    assert root.headers["location"] == "/dashboard"


def test_no_script_or_style_loads_anything_from_another_origin() -> None:
    for path in STATIC.glob("*.*"):
        text = path.read_text()
        assert not re.search(
            r"""(?:src=|href=|url\(|import .* from |fetch\()\s*["']?https?://""", text
        ), path
    vendored = STATIC / "vendor" / "echarts"
    assert "Apache License" in (vendored / "LICENSE").read_text()
    assert "6.1.0" in (vendored / "VERSION").read_text()
