// Injected by tests/chromium/check_report.sh into a copy of a report page (the page itself
// runs no script): records on <body> how many images the page has, how many failed to load,
// and any script or console errors, for the test to read from the dumped DOM.
(function () {
  var errors = [];
  window.addEventListener('error', function (e) {
    var t = e.target;
    errors.push(String(e.message || (t && (t.currentSrc || t.src || t.href)) || 'resource error'));
  }, true);
  var original = console.error;
  console.error = function () {
    errors.push(Array.prototype.join.call(arguments, ' '));
    return original.apply(console, arguments);
  };
  window.addEventListener('load', function () {
    var images = document.images, broken = 0;
    for (var i = 0; i < images.length; i++) {
      if (!images[i].complete || images[i].naturalWidth === 0) { broken++; }
    }
    var b = document.body;
    b.setAttribute('data-images', String(images.length));
    b.setAttribute('data-images-broken', String(broken));
    b.setAttribute('data-errors', String(errors.length));
    b.setAttribute('data-error-text', errors.join(' | ').slice(0, 500));
    b.setAttribute('data-checked', 'yes');
  });
})();
