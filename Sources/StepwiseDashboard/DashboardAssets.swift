import Crypto

/// The dashboard's one stylesheet and one script, committed as Swift string constants: no
/// resource bundle to install and nothing fetched at run time (no CDN, no npm). Each is served
/// with a strong ETag, so a browser asks again cheaply.
enum DashboardAssets {
    static let stylesheet = """
        :root { --fg: #1d232b; --muted: #5f6b78; --line: #d9dee4; --bg: #f7f8fa; --accent: #2f5fd0;
          --ok: #1f8a4c; --bad: #c0392b; --warn: #b7791f; --idle: #6b7bb8; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
        header { display: flex; gap: 1.2em; align-items: center; padding: .6em 1.2em; background: #fff; border-bottom: 1px solid var(--line); }
        header .brand { font-weight: 700; }
        header nav a { margin-right: 1em; }
        header .env { margin-left: auto; color: var(--muted); }
        main { padding: 1em 1.2em; max-width: 1200px; }
        a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
        h1 { font-size: 1.3em; margin: .2em 0 .6em; }
        h2 { font-size: 1.05em; margin: 1.2em 0 .4em; }
        table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
        th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { font-weight: 600; color: var(--muted); background: #fafbfc; }
        code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; }
        pre { background: #fff; border: 1px solid var(--line); padding: .6em; overflow: auto; max-height: 24em; margin: .3em 0; }
        form.filters { display: flex; flex-wrap: wrap; gap: .6em; align-items: end; margin-bottom: .8em; }
        form.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
        input, select, textarea, button { font: inherit; padding: .3em .45em; border: 1px solid var(--line); border-radius: 4px; background: #fff; }
        textarea { width: 100%; font-family: ui-monospace, monospace; }
        button { cursor: pointer; background: var(--accent); color: #fff; border-color: var(--accent); }
        button.danger { background: var(--bad); border-color: var(--bad); }
        form.inline { display: inline; }
        .status { display: inline-block; padding: 0 .5em; border-radius: 3px; font-size: 12px; color: #fff; background: var(--muted); }
        .status.completed { background: var(--ok); } .status.failed { background: var(--bad); }
        .status.running { background: var(--accent); } .status.queued { background: var(--warn); }
        .status.sleeping, .status.waiting { background: var(--idle); } .status.cancelled { background: #7d7d7d; }
        .status.errored { background: var(--warn); }
        .muted { color: var(--muted); }
        .error { color: var(--bad); }
        .notice { background: #fff; border-left: 4px solid var(--accent); padding: .5em .8em; margin: .6em 0; }
        .notice.error { border-color: var(--bad); }
        .counts a { margin-right: .8em; }
        .pager { margin: .8em 0; }
        .timeline { background: #fff; border: 1px solid var(--line); padding: .6em; }
        .lane { display: grid; grid-template-columns: 16em 1fr 7em; gap: .6em; align-items: center; margin: .15em 0; }
        .track { display: block; width: 100%; height: 14px; background: #eef1f5; border-radius: 3px; }
        .bar { fill: var(--ok); }
        .bar.errored, .bar.failed { fill: var(--bad); } .bar.waiting { fill: var(--idle); opacity: .8; }
        .bar.sleep, .bar.waitForEvent, .bar.invoke { fill: var(--idle); }
        dl.facts { display: grid; grid-template-columns: 10em 1fr; gap: .2em .8em; background: #fff; border: 1px solid var(--line); padding: .6em; }
        dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
        details { background: #fff; border: 1px solid var(--line); margin: .3em 0; padding: .3em .6em; }
        """

    /// Live regions: an element with `data-live` holds the URL of its own content, fetched
    /// again every `data-interval` ms (1500 by default) and swapped in when it changed, so a
    /// page follows new events and committed steps without a reload. Without JavaScript the
    /// page is the same, only still. Polling, as Inngest's dev server does: simple, and one
    /// request per region per interval costs a page read by cursor.
    static let script = """
        (function () {
          "use strict";
          function follow(region) {
            var url = region.getAttribute("data-live");
            var interval = parseInt(region.getAttribute("data-interval") || "1500", 10);
            var last = region.innerHTML;
            function tick() {
              fetch(url, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
                .then(function (response) {
                  if (!response.ok) { throw new Error("status " + response.status); }
                  var done = response.headers.get("X-Stepwise-Live") === "done";
                  return response.text().then(function (text) { return { text: text, done: done }; });
                })
                .then(function (answer) {
                  if (answer.text !== last) { region.innerHTML = answer.text; last = answer.text; }
                  region.setAttribute("data-live-state", answer.done ? "done" : "live");
                  if (!answer.done) { setTimeout(tick, interval); }
                })
                .catch(function () { region.setAttribute("data-live-state", "retrying"); setTimeout(tick, interval * 2); });
            }
            setTimeout(tick, interval);
          }
          document.addEventListener("DOMContentLoaded", function () {
            var regions = document.querySelectorAll("[data-live]");
            for (var i = 0; i < regions.length; i++) { follow(regions[i]); }
          });
        })();
        """

    static let stylesheetETag = etag(stylesheet)
    static let scriptETag = etag(script)

    private static func etag(_ text: String) -> String {
        let digest = SHA256.hash(data: Array(text.utf8))
        return "\"" + digest.prefix(12).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined() + "\""
    }
}
