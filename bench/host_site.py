"""A tradie's own website for the browser bench: a page of the size and shape of a small
business's WordPress site, served from another origin, with the embed code pasted into it.

What it carries, as a WordPress 6 site with a classic theme does (sizes before gzip, which its
server applies to text): a 25 KB document with a 12 KB block of inline global styles and a small
inline settings script; the block library's stylesheet (about 60 KB) and the theme's (about
45 KB), both render-blocking in the head; a logo (`fetchpriority="high"`) and a photo above the
fold, three photos (30-50 KB each) further down with `loading="lazy"`; a library of jQuery's
weight (about 30 KB gzipped) as a blocking script at the end of the body, and the theme's small
script deferred. The booking form (the embed code, in a "Custom HTML" block) sits under the page's
title and a short introduction, partly on the phone's first screen.

The text is generated, not copied from any site: deterministic filler with the proportions
of the real thing (rules, selectors, functions), so gzip shrinks it about as much.
"""

from __future__ import annotations

import io
import random

from peepopay.widget.demo_host import DemoHost, Snippet, paste

WORDS = (
    "wp block button cover group columns column image gallery heading list media text navigation "
    "site header footer title logo entry content post meta menu item link social icons quote "
    "separator spacer table search widget sidebar container inner wrapper align wide full has "
    "background color text font size large small medium primary secondary tertiary accent"
).split()


def _words(rng: random.Random, n: int) -> str:
    return "-".join(rng.choice(WORDS) for _ in range(n))


def stylesheet(seed: int, size: int) -> bytes:
    """CSS of about `size` bytes: rules on WordPress-like class names."""
    rng = random.Random(seed)
    props = (
        "margin:0 0 1.5em",
        "padding:.5em 1em",
        "display:flex",
        "flex-wrap:wrap",
        "align-items:center",
        "box-sizing:border-box",
        "font-size:var(--wp--preset--font-size--medium)",
        "color:var(--wp--preset--color--contrast)",
        "background-color:var(--wp--preset--color--base)",
        "border-radius:4px",
        "line-height:1.6",
        "max-width:var(--wp--style--global--content-size)",
        "text-decoration:none",
        "gap:var(--wp--style--block-gap)",
        "width:100%",
    )
    out: list[str] = []
    total = 0
    while total < size:
        selector = f".{_words(rng, 3)}" + (f" .{_words(rng, 2)}" if rng.random() < 0.4 else "")
        rule = f"{selector}{{{';'.join(rng.sample(props, rng.randint(2, 5)))}}}\n"
        if rng.random() < 0.05:
            rule = f"@media (min-width:{rng.choice((600, 782, 960))}px){{{rule}}}\n"
        out.append(rule)
        total += len(rule)
    return "".join(out).encode()


def script(seed: int, size: int) -> bytes:
    """JavaScript of about `size` bytes, shaped like a minified library (one IIFE, short
    mangled names), about as compressible as jQuery (a third of its size gzipped)."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$"

    def name() -> str:
        return "".join(rng.choice(letters) for _ in range(rng.randint(1, 3)))

    out = ["/*! a library of the size of jQuery 3 */!function(e,t){'use strict';var n={};"]
    total = len(out[0])
    while total < size:
        a, b, c, d = name(), name(), name(), name()
        body = (
            f"n.{a}{rng.randint(0, 999)}=function({b},{c}){{var {d}={rng.randint(0, 99999)},"
            f"{a}=[{','.join(str(rng.randint(0, 9999)) for _ in range(rng.randint(2, 6)))}];"
            f"return {b}&&{b}.{rng.choice(WORDS)}?{d}^{c}.{name()}:{a}[{d}%{a}.length]}};"
        )
        out.append(body)
        total += len(body)
    out.append("e.jQuery=e.$=n}(window,document);")
    return "".join(out).encode()


def photo(seed: int, width: int, height: int, quality: int) -> bytes:
    """A JPEG photo-like image (gradients and grain), as a theme's hero or gallery picture."""
    from PIL import Image

    rng = random.Random(seed)
    bands = [
        Image.blend(
            Image.linear_gradient("L")
            .rotate(rng.choice((0, 90, 180, 270)))
            .resize((width, height)),
            Image.effect_noise((width, height), rng.randint(20, 60)),
            rng.uniform(0.2, 0.5),
        )
        for _ in range(3)
    ]
    out = io.BytesIO()
    Image.merge("RGB", bands).save(out, "JPEG", quality=quality, progressive=True)
    return out.getvalue()


def paragraphs(seed: int, n: int) -> str:
    rng = random.Random(seed)
    talk = (
        "We fix leaking taps, burst pipes and blocked drains across the city, day or night. "
        "Our plumbers are licensed, carry their tools in the van and tidy up after the job. "
        "Hot water cylinders checked, replaced and certified, with a written quote first. "
        "Pick a time that suits you and pay a small deposit to hold it; the rest after the job. "
    ).split(". ")
    return "\n".join(
        '<p class="has-medium-font-size">' + ". ".join(rng.sample(talk, 3)) + ".</p>"
        for _ in range(n)
    )


THEME = "/wp-content/themes/harbour"


def page(embed: str) -> str:
    """The booking page of the site, `embed` being where its "Custom HTML" block goes."""
    menu = "".join(
        f'<li class="menu-item menu-item-type-post_type menu-item-{i}">'
        f'<a href="/{slug}/">{label}</a></li>'
        for i, (slug, label) in enumerate(
            [
                ("", "Home"),
                ("services", "Services"),
                ("hot-water", "Hot water"),
                ("drains", "Drains"),
                ("gas", "Gas fitting"),
                ("about", "About us"),
                ("reviews", "Reviews"),
                ("book", "Book online"),
                ("contact", "Contact"),
            ]
        )
    )
    global_styles = stylesheet(3, 12_000).decode()
    gallery = "".join(
        f'<figure class="wp-block-image size-large"><img loading="lazy" decoding="async"'
        f' width="800" height="533" src="/wp-content/uploads/2024/05/job-{n}.jpg"'
        f' alt="A finished job, {n}" class="wp-image-{40 + n}"></figure>'
        for n in (1, 2, 3)
    )
    return f"""<!doctype html>
<html lang="en-NZ">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Book online &#8211; Harbour Plumbing</title>
<meta name="robots" content="max-image-preview:large">
<link rel="icon" href="data:,">
<link rel="alternate" type="application/rss+xml" title="Harbour Plumbing &raquo; Feed"
 href="/feed/">
<script>window._wpemojiSettings = {{"baseUrl":"/emoji/","ext":".png","svgUrl":"/emoji/svg/",
"svgExt":".svg","source":{{"concatemoji":"/wp-includes/js/wp-emoji-release.min.js"}}}};
/*! This file is auto-generated */
!function(i,n){{var o,s,e;function c(e){{try{{
var t={{supportTests:e,timestamp:(new Date).valueOf()}};
sessionStorage.setItem(o,JSON.stringify(t))}}catch(e){{}}}}o="wpEmojiSettingsSupports";
i.wpEmojiReady=!0}}(window,document);</script>
<style id="wp-emoji-styles-inline-css">img.wp-smiley, img.emoji {{ display: inline !important;
border: none !important; box-shadow: none !important; height: 1em !important;
width: 1em !important; margin: 0 0.07em !important; vertical-align: -0.1em !important;
background: none !important; }}</style>
<link rel="stylesheet" id="wp-block-library-css"
 href="/wp-includes/css/dist/block-library/style.min.css?ver=6.5.3" media="all">
<style id="global-styles-inline-css">{global_styles}</style>
<link rel="stylesheet" id="harbour-style-css" href="{THEME}/style.css?ver=1.4.2" media="all">
<link rel="https://api.w.org/" href="/wp-json/">
<link rel="canonical" href="/book/">
</head>
<body class="page-template-default page page-id-12 wp-embed-responsive">
<div id="page" class="site">
<a class="skip-link screen-reader-text" href="#content">Skip to content</a>
<header id="masthead" class="site-header">
<div class="site-branding"><a href="/" rel="home"><img src="/wp-content/uploads/2023/11/logo.jpg"
 width="160" height="48" alt="Harbour Plumbing" class="custom-logo" fetchpriority="high"></a>
<p class="site-description">Plumbers you can count on</p></div>
<nav id="site-navigation" class="main-navigation"><button class="menu-toggle"
 aria-controls="primary-menu" aria-expanded="false">Menu</button>
<ul id="primary-menu" class="menu">{menu}</ul></nav>
</header>
<main id="content" class="site-main">
<article id="post-12" class="post-12 page type-page status-publish hentry">
<header class="entry-header"><h1 class="entry-title">Book a plumber online</h1></header>
<div class="entry-content">
<figure class="wp-block-image size-full"><img decoding="async" width="800" height="300"
 src="/wp-content/uploads/2024/05/hero.jpg" alt="Our van outside a job" class="wp-image-31"
 style="width:100%;height:auto;max-height:110px;object-fit:cover"></figure>
<p>Choose a job and a time below; we confirm straight away.</p>
{embed}
<h2 class="wp-block-heading">Why Harbour Plumbing</h2>
{paragraphs(1, 14)}
<div class="wp-block-gallery has-nested-images columns-3">{gallery}</div>
<h2 class="wp-block-heading">What our customers say</h2>
{paragraphs(2, 12)}
</div>
</article>
</main>
<footer id="colophon" class="site-footer">
<section class="widget widget_text"><h2 class="widget-title">Contact</h2>
<p>09 555 0100 &middot; jobs@harbour.example &middot; Mon&ndash;Fri 7&ndash;5</p></section>
<section class="widget widget_nav_menu"><ul class="menu">{menu}</ul></section>
<div class="site-info">&copy; 2024 Harbour Plumbing &middot; Proudly powered by WordPress</div>
</footer>
</div>
<script src="/wp-includes/js/jquery/jquery.min.js?ver=3.7.1" id="jquery-core-js"></script>
<script src="{THEME}/js/navigation.js?ver=1.4.2" id="harbour-navigation-js" defer></script>
</body>
</html>
"""


def files() -> dict[str, tuple[str, bytes]]:
    """The site's own stylesheets, scripts and pictures, by path."""
    css = "text/css; charset=utf-8"
    js = "application/javascript; charset=utf-8"
    jpeg = "image/jpeg"
    found = {
        "/wp-includes/css/dist/block-library/style.min.css": (css, stylesheet(1, 60_000)),
        f"{THEME}/style.css": (css, stylesheet(2, 45_000)),
        "/wp-includes/js/jquery/jquery.min.js": (js, script(1, 62_000)),
        f"{THEME}/js/navigation.js": (js, script(2, 4_000)),
        "/wp-content/uploads/2023/11/logo.jpg": (jpeg, photo(1, 160, 48, 80)),
        "/wp-content/uploads/2024/05/hero.jpg": (jpeg, photo(2, 800, 300, 60)),
    }
    for n in (1, 2, 3):
        found[f"/wp-content/uploads/2024/05/job-{n}.jpg"] = (jpeg, photo(10 + n, 800, 533, 55))
    return found


def host_site(app_url: str, slug: str, snippet: Snippet) -> DemoHost:
    """The site, not yet started, with `snippet` for `slug` on the app at `app_url`."""
    html = page("<!-- embed --><!-- /embed -->")
    return DemoHost(
        app_url,
        slug,
        page=paste(html, app_url, slug, snippet, "Harbour Plumbing").encode(),
        files=files(),
    )
