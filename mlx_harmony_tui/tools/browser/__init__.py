"""The GPT-OSS ``browser`` tool and the backends it browses: local documents or the web.

``BrowserTool(backend).run("browser.search", '{"query": "..."}')`` gives a
``ToolOutput`` holding the page display GPT-OSS was trained to read.
"""

from .backend import BrowserBackend, BrowserError
from .http_backend import HttpBackend
from .local_backend import LocalDocsBackend
from .page import Link, Page, SearchResult
from .tool import BrowserTool

__all__ = [
    "BrowserBackend",
    "BrowserError",
    "BrowserTool",
    "HttpBackend",
    "Link",
    "LocalDocsBackend",
    "Page",
    "SearchResult",
]
