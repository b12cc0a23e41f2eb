// Imported first: a browser whose language is not a valid BCP 47 tag (WebKitGTK reports "C"
// under LANG=C, as in the tray app's window on a minimal system) makes `Intl` constructors
// throw, and the chart library builds one when it loads. Fall back to English there.
try {
  new Intl.NumberFormat(navigator.language);
} catch {
  Object.defineProperty(Navigator.prototype, "language", { get: () => "en-US", configurable: true });
  Object.defineProperty(Navigator.prototype, "languages", { get: () => ["en-US"], configurable: true });
}
