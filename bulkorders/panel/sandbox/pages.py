"""The pages of what stands in front of a real panel: nginx errors, a maintenance page,
Cloudflare's challenge and block pages (what `sandbox serve`'s faults answer)."""

from __future__ import annotations

PAGE_404 = (
    "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
    "<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
PAGE_MAINTENANCE = """<!DOCTYPE html><html><head><title>Maintenance</title></head><body>
<h1>We&rsquo;ll be back soon!</h1><p>The panel is down for scheduled maintenance.</p></body></html>
"""
PAGE_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
TEXT_503 = "Service Temporarily Unavailable"
TEXT_429 = "Too Many Requests"
CLOUDFLARE_HEADERS = {"cf-ray": "8a1b2c3d4e5f6a7b-AMS"}
CLOUDFLARE_BLOCKED = """<!DOCTYPE html><html lang="en-US"><head>
<title>Attention Required! | Cloudflare</title></head><body><div id="cf-wrapper">
<h1 data-translate="block_headline">Sorry, you have been blocked</h1>
<h2 class="cf-subheadline">You are unable to access panel.example</h2>
<p>This website is using a security service to protect itself from online attacks.</p>
<p>Cloudflare Ray ID: <strong>8a1b2c3d4e5f6a7b</strong></p></div></body></html>
"""
CLOUDFLARE_PAGE = """<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<meta name="robots" content="noindex,nofollow">
<style>body{font-family:system-ui}</style></head><body><div class="main-wrapper" role="main">
<div class="main-content"><h1 class="zone-name-title h1">panel.example</h1>
<h2 class="h2">Checking if the site connection is secure</h2><noscript><div class="h2">
Enable JavaScript and cookies to continue</div></noscript></div></div>
<script>(function(){window._cf_chl_opt={cType:'managed'};}());</script></body></html>
"""
