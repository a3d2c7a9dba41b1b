// Slideshow keys: left/right arrows follow the page's previous/next links. No inline script anywhere (CSP).
document.addEventListener("keydown", function (e) {
  if (e.target && /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) return;
  var link = document.querySelector(e.key === "ArrowRight" ? "a[rel=next]" : e.key === "ArrowLeft" ? "a[rel=prev]" : null);
  if (link) { window.location.href = link.href; }
});
