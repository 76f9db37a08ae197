#!/usr/bin/env node
// Browser end-to-end driver: real JsSIP user agents in headless Chromium
// register over SIP-over-WebSocket (RFC 7118) and exchange MESSAGEs.
//
// Usage (run tests/browser/install once first):
//
//   node tests/browser/run.mjs --ws-url URL --users NAME:PASS[,NAME:PASS...] [options]
//
// Pair mode (the default; needs two users): both users register, the first
// sends the second a MESSAGE, the second answers with one of its own; each
// side waits for the other's to arrive.
// Peer mode (--peer URI; uses the first user only): the user registers,
// sends a MESSAGE to URI (a non-browser peer, e.g. sipp), and waits for a
// MESSAGE from that peer to arrive in the browser. Received MESSAGEs are
// collected from registration on, so the peer may send before or after it
// gets the browser's (--ready-file tells it when the browser is registered).
//
//   --ws-url URL           ws://HOST:PORT[/path] or wss://...; required
//   --users LIST           NAME[:PASSWORD[:AUTHUSER]], comma-separated; each
//                          becomes sip:NAME@DOMAIN with display name NAME
//                          capitalised; digest challenges (401/407) are
//                          answered by JsSIP with PASSWORD (AUTHUSER defaults
//                          to NAME); required
//   --domain DOMAIN        SIP domain of the users (and the REGISTER
//                          Request-URI sip:DOMAIN); default: the URL's host
//   --peer URI             peer mode, e.g. sip:carol@127.0.0.1:5070
//   --peer-from TEXT       the peer's MESSAGE is the first whose From URI
//                          contains TEXT; default: "USER@" from --peer
//   --sipp-user NAME       shorthand for --peer sip:NAME@DOMAIN
//   --body TEXT            first MESSAGE's body (default: a greeting with a
//                          run id); the answer in pair mode is "re: " + TEXT
//   --timeout MS           per step: connect+REGISTER, each MESSAGE's final
//                          response, each delivery (default 10000)
//   --deadline MS          whole run, browser start included (default 60000)
//   --screenshot FILE      PNG: every user's page side by side, result on top
//   --trace FILE           every SIP message each page sent/received (text)
//   --ready-file FILE      written (JSON of the registrations) once every
//                          user is registered, before any MESSAGE
//   --ca-cert FILE         CA certificate(s), PEM or DER, that Chromium
//                          trusts as roots for wss:// (repeatable): into an NSS
//                          database in a throwaway $HOME for the browser
//                          (certutil, Debian's libnss3-tools), so the server
//                          may send its leaf alone; real chain validation,
//                          including the name (IP SAN for 127.0.0.1)
//   --trust-cert FILE      certificate(s), PEM or DER, whose public keys
//                          Chromium accepts whatever is wrong with the chain
//                          (--ignore-certificate-errors-spki-list, by SPKI
//                          hash; repeatable). Only the certificates the server
//                          SENDS are compared: give its leaf (or self-signed)
//                          certificate, or a CA only if the server sends it
//   --ignore-certificate-errors   Chromium accepts any TLS certificate
//   --page-port PORT       port of the static page server on 127.0.0.1
//                          (default 0: any free one). The pages' WebSockets
//                          carry Origin: http://127.0.0.1:PORT — fix the port
//                          when the server checks origins (sipwarden's
//                          [listen] ws-origins compares them exactly)
//   --no-unregister        leave the bindings registered at the end
//   --chromium PATH        default $CHROMIUM or /usr/bin/chromium
//   --verbose              JsSIP's debug log and the pages' console on stderr
//
// Output: one JSON line on stdout, {"ok":..., "mode":..., "registrations":
// [...], "messages": [...], "timings_ms": {...}, "error": ...}. Exit status
// 0 when every REGISTER got a 2xx and every MESSAGE got a 2xx and arrived;
// 1 when something did not (the JSON's "error" says what); 2 on bad usage;
// 3 when the browser or the page could not be started. In peer mode the
// browser's MESSAGE has "delivered": null (the peer checks its arrival) and
// the peer's has "status": null (the browser answered it 200 itself).
// Progress goes to stderr, one "run.mjs: ..." line per step.
import { createServer } from 'node:http';
import { createHash, X509Certificate, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleJsSIP } from './bundle.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const t0 = Date.now();
const elapsed = () => Date.now() - t0;
const progress = text => process.stderr.write(`run.mjs: ${text}\n`);

class UsageError extends Error {}
class SetupError extends Error {}

function parseOptions(argv) {
    const { values } = parseArgs({
        args: argv,
        strict: true,
        options: {
            'ws-url': { type: 'string' },
            users: { type: 'string' },
            domain: { type: 'string' },
            peer: { type: 'string' },
            'peer-from': { type: 'string' },
            'sipp-user': { type: 'string' },
            body: { type: 'string' },
            timeout: { type: 'string', default: '10000' },
            deadline: { type: 'string', default: '60000' },
            screenshot: { type: 'string' },
            trace: { type: 'string' },
            'ready-file': { type: 'string' },
            'ignore-certificate-errors': { type: 'boolean', default: false },
            'trust-cert': { type: 'string', multiple: true, default: [] },
            'ca-cert': { type: 'string', multiple: true, default: [] },
            'no-unregister': { type: 'boolean', default: false },
            'page-port': { type: 'string', default: '0' },
            chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
            verbose: { type: 'boolean', default: false },
            help: { type: 'boolean', short: 'h', default: false },
        },
    });
    if (values.help) {
        const header = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
        const end = header.findIndex((l, i) => i > 1 && !l.startsWith('//'));
        process.stdout.write(header.slice(1, end).map(l => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
        process.exit(0);
    }
    if (!values['ws-url']) throw new UsageError('--ws-url is required');
    let url;
    try {
        url = new URL(values['ws-url']);
    } catch {
        throw new UsageError(`--ws-url ${values['ws-url']}: not a URL`);
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new UsageError('--ws-url must be ws:// or wss://');
    if (!values.users) throw new UsageError('--users is required');
    const domain = values.domain || url.hostname.replace(/^\[|\]$/g, '');
    const users = values.users.split(',').filter(Boolean).map(spec => {
        const [name, password = '', authorizationUser] = spec.split(':');
        if (!/^[A-Za-z0-9._~!$&'()*+;=-]+$/.test(name || '')) throw new UsageError(`--users: bad user name in "${spec}"`);
        return {
            name,
            password,
            authorizationUser: authorizationUser || null,
            uri: `sip:${name}@${domain}`,
            displayName: name.charAt(0).toUpperCase() + name.slice(1),
        };
    });
    let peer = values.peer || (values['sipp-user'] ? `sip:${values['sipp-user']}@${domain}` : null);
    if (peer && !/^sips?:/.test(peer)) throw new UsageError(`--peer ${peer}: not a sip: URI`);
    if (!peer && users.length < 2) throw new UsageError('pair mode needs two --users (or give --peer)');
    if (peer && users.length < 1) throw new UsageError('--peer needs one --users entry');
    const num = (name, v) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} ${v}: not a positive number`);
        return n;
    };
    let peerFrom = values['peer-from'];
    if (peer && !peerFrom) {
        const m = /^sips?:([^@;?]+)@/.exec(peer);
        peerFrom = m ? `${m[1]}@` : peer.replace(/^sips?:/, '');
    }
    return {
        wsUrl: values['ws-url'],
        domain,
        users: peer ? users.slice(0, 1) : users.slice(0, 2),
        peer,
        peerFrom,
        body: values.body || null,
        timeout: num('timeout', values.timeout),
        deadline: num('deadline', values.deadline),
        screenshot: values.screenshot ? resolvePath(values.screenshot) : null,
        trace: values.trace ? resolvePath(values.trace) : null,
        readyFile: values['ready-file'] ? resolvePath(values['ready-file']) : null,
        ignoreCertificateErrors: values['ignore-certificate-errors'],
        trustCerts: values['trust-cert'],
        caCerts: values['ca-cert'].map(f => resolvePath(f)),
        unregister: !values['no-unregister'],
        pagePort: (() => {
            const n = Number(values['page-port']);
            if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--page-port ${values['page-port']}: not a port`);
            return n;
        })(),
        chromium: values.chromium,
        verbose: values.verbose,
    };
}

// Base64 SHA-256 of each certificate's SubjectPublicKeyInfo, the form
// Chromium's --ignore-certificate-errors-spki-list takes.
// The certificates in a file: PEM (one or more) or a single DER one.
function pemCertificates(flag, file) {
    let bytes;
    try {
        bytes = readFileSync(file);
    } catch (e) {
        throw new UsageError(`${flag} ${file}: ${e.code || e.message}`);
    }
    const blocks = bytes.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
    if (blocks) return blocks;
    try {
        return [new X509Certificate(bytes).toString().trim()];
    } catch {
        throw new UsageError(`${flag} ${file}: neither a PEM nor a DER certificate`);
    }
}

function spkiHashes(files) {
    const hashes = [];
    for (const file of files) {
        for (const block of pemCertificates('--trust-cert', file)) {
            const spki = new X509Certificate(block).publicKey.export({ type: 'spki', format: 'der' });
            hashes.push(createHash('sha256').update(spki).digest('base64'));
        }
    }
    return hashes;
}

// A throwaway $HOME whose NSS database (~/.pki/nssdb, where Chromium on
// Linux reads locally added trust anchors) holds the given CAs as trusted
// for TLS servers.
function nssHome(files) {
    const certutil = ['/usr/bin/certutil', '/usr/local/bin/certutil'].find(existsSync);
    if (!certutil) throw new SetupError('--ca-cert needs certutil (Debian libnss3-tools; run tests/browser/install)');
    const home = mkdtempSync(join(tmpdir(), 'sipwarden-browser-home-'));
    const db = join(home, '.pki', 'nssdb');
    mkdirSync(db, { recursive: true });
    const run = args => {
        const r = spawnSync(certutil, ['-d', `sql:${db}`, ...args], { encoding: 'utf8' });
        if (r.status !== 0) throw new SetupError(`certutil ${args[0]}: ${(r.stderr || r.stdout || '').trim()}`);
    };
    try {
        run(['-N', '--empty-password']);
        let n = 0;
        for (const file of files) {
            for (const block of pemCertificates('--ca-cert', file)) {
                const one = join(home, `ca-${n}.pem`);
                writeFileSync(one, block + '\n');
                run(['-A', '-t', 'C,,', '-n', `sipwarden test CA ${n}`, '-i', one]);
                n += 1;
            }
        }
    } catch (e) {
        rmSync(home, { recursive: true, force: true });
        throw e;
    }
    return home;
}

// The page, its script and the JsSIP bundle, on 127.0.0.1 at a port the
// kernel picks.
function startStaticServer(port) {
    const jssip = bundleJsSIP();
    const files = {
        '/': ['index.html', 'text/html; charset=utf-8'],
        '/index.html': ['index.html', 'text/html; charset=utf-8'],
        '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
    };
    const server = createServer((req, res) => {
        const path = new URL(req.url, 'http://x').pathname;
        if (path === '/favicon.ico') {
            res.writeHead(204);
            res.end();
        } else if (path === '/jssip.js') {
            res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' });
            res.end(jssip);
        } else if (files[path]) {
            res.writeHead(200, { 'content-type': files[path][1], 'cache-control': 'no-store' });
            res.end(readFileSync(join(here, 'page', files[path][0])));
        } else {
            res.writeHead(404, { 'content-type': 'text/plain' });
            res.end('not found\n');
        }
    });
    return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve(server));
    });
}

// Runs fn in the page and returns { ok: true, ...value } or { ok: false,
// message, status, reason, cause }: a rejection in the page arrives
// structured, not as Playwright's error text.
async function call(page, fn, arg) {
    return page.evaluate(
        async ([source, a]) => {
            try {
                // eslint-disable-next-line no-new-func
                const value = await new Function('sip', 'arg', `return (${source})(sip, arg);`)(window.sipClient, a);
                return { ok: true, ...(value || {}) };
            } catch (e) {
                return { ok: false, message: String(e && e.message), status: e && e.status || null, reason: e && e.reason || null, cause: e && e.cause || null };
            }
        },
        [fn.toString(), arg],
    );
}

async function composeScreenshot(browser, shots, result, file) {
    const page = await browser.newPage({ viewport: { width: Math.max(660 * shots.length + 20, 1000), height: 400 } });
    const esc = s => String(s).replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
    const verdict = result.ok ? 'PASS' : 'FAIL';
    const lines = [
        ...result.registrations.map(r => `REGISTER ${r.uri}: ${r.status ?? '-'} ${r.reason ?? ''}${r.ok ? '' : ` (${r.cause || r.message})`}`),
        ...result.messages.map(m => {
            const answer = m.status ? `${m.status} ${m.reason}` : m.sent_ms === undefined ? 'sent by the peer' : 'no final response';
            const delivery = m.delivered === null ? 'delivery is the peer\'s to check' : m.delivered ? 'delivered' : 'NOT delivered';
            return `MESSAGE ${m.from} → ${m.to}: ${answer}, ${delivery}`;
        }),
    ];
    if (result.error) lines.push(`error: ${result.error}`);
    await page.setContent(`<!doctype html><html><body style="margin:0;font:14px 'DejaVu Sans',sans-serif;background:#d1d5db">
<div style="padding:8px 12px;background:${result.ok ? '#166534' : '#991b1b'};color:#fff">
<b>${verdict}</b> — sipwarden browser e2e (${esc(result.mode)}) over ${esc(result.ws_url)} · JsSIP ${esc(result.jssip || '?')} · ${esc(result.browser || '')} · ${result.timings_ms.total} ms
<div style="font:12px 'DejaVu Sans Mono',monospace;white-space:pre-wrap;word-break:break-all;margin-top:4px">${lines.map(esc).join('\n')}</div></div>
<div style="display:flex;gap:10px;padding:10px;align-items:flex-start">
${shots.map(s => `<figure style="margin:0;background:#fff;box-shadow:0 1px 3px #0004"><img style="display:block;width:640px" src="data:image/png;base64,${s.toString('base64')}"></figure>`).join('\n')}
</div></body></html>`);
    await page.screenshot({ path: file, fullPage: true });
    await page.close();
}

async function main() {
    let opts;
    try {
        opts = parseOptions(process.argv.slice(2));
    } catch (e) {
        process.stderr.write(`run.mjs: ${e.message} (--help tells the flags)\n`);
        process.stdout.write(JSON.stringify({ ok: false, error: `usage: ${e.message}` }) + '\n');
        process.exit(2);
    }

    const runId = randomBytes(3).toString('hex');
    const result = {
        ok: false,
        mode: opts.peer ? 'peer' : 'pair',
        ws_url: opts.wsUrl,
        domain: opts.domain,
        run_id: runId,
        page_origin: null,
        browser: null,
        jssip: null,
        registrations: [],
        messages: [],
        unregistrations: [],
        timings_ms: {},
        screenshot: opts.screenshot,
        error: null,
    };
    const timings = result.timings_ms;
    let server;
    let browser;
    let tempHome = null;
    let unregistered = false;
    let exitCode = 1;
    const pages = [];

    let deadlineHit = false;
    const deadline = setTimeout(() => {
        deadlineHit = true;
        finish(1);
    }, opts.deadline);

    let finishing = false;
    async function finish(code) {
        if (finishing) return;
        finishing = true;
        clearTimeout(deadline);
        if (opts.trace && pages.length) {
            try {
                const parts = [];
                for (const p of pages) {
                    const trace = await withTimeout(p.page.evaluate(() => window.sipClient.trace()), 3000);
                    parts.push(`===== ${p.user.uri} =====\n` +
                        trace.map(m => `----- ${m.dir === 'out' ? 'sent' : 'received'}${m.binary ? ' (binary frame)' : ''} ${new Date(m.at).toISOString()}\n${m.text.replace(/\r\n/g, '\n')}`).join('\n'));
                }
                writeFileSync(opts.trace, parts.join('\n\n') + '\n');
            } catch (e) {
                progress(`could not write the trace: ${e.message}`);
            }
        }
        if (code !== 0 && opts.unregister && !unregistered && pages.length) {
            // Best effort, so that a failed run leaves no binding behind.
            await Promise.all(pages.map(p => withTimeout(call(p.page, sip => sip.stop(2000)), 3000).catch(() => null)));
        }
        timings.total = elapsed();
        result.ok = code === 0;
        if (opts.screenshot && pages.length && browser) {
            try {
                const shots = [];
                for (const p of pages) shots.push(await withTimeout(p.page.screenshot({ fullPage: true }), 5000));
                await withTimeout(composeScreenshot(browser, shots, result, opts.screenshot), 10000);
                progress(`screenshot ${opts.screenshot}`);
            } catch (e) {
                progress(`could not save the screenshot: ${e.message}`);
                result.screenshot = null;
            }
        }
        if (browser) await withTimeout(browser.close(), 5000).catch(() => {});
        if (server) server.close();
        if (tempHome) rmSync(tempHome, { recursive: true, force: true });
        timings.exit = elapsed();
        // Whatever failed because the deadline closed the browser, the
        // deadline is the reason.
        if (deadlineHit) result.error = `deadline: the run took more than ${opts.deadline} ms${result.error ? `; what it cut short: ${result.error}` : ''}`;
        process.stdout.write(JSON.stringify(result) + '\n');
        process.exit(code);
    }

    try {
        // ---- browser and page
        if (!existsSync(opts.chromium)) throw new SetupError(`no Chromium at ${opts.chromium} (run tests/browser/install)`);
        let chromium;
        try {
            ({ chromium } = await import('playwright-core'));
        } catch {
            throw new SetupError('playwright-core is not installed (run tests/browser/install)');
        }
        try {
            server = await startStaticServer(opts.pagePort);
        } catch (e) {
            throw new SetupError(`the page server could not listen on 127.0.0.1:${opts.pagePort}: ${e.code || e.message}`);
        }
        const base = `http://127.0.0.1:${server.address().port}/`;
        result.page_origin = base.slice(0, -1);
        const args = [
            '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
        ];
        if (opts.ignoreCertificateErrors) args.push('--ignore-certificate-errors');
        const hashes = spkiHashes(opts.trustCerts);
        if (hashes.length) args.push(`--ignore-certificate-errors-spki-list=${hashes.join(',')}`);
        const env = { ...process.env };
        if (opts.caCerts.length) {
            tempHome = nssHome(opts.caCerts);
            env.HOME = tempHome;
        }
        try {
            // Playwright gives the browser a new empty --user-data-dir of its
            // own (and removes it on close).
            browser = await chromium.launch({ executablePath: opts.chromium, headless: true, args, env, timeout: 30000 });
        } catch (e) {
            throw new SetupError(`Chromium did not start: ${e.message.split('\n')[0]}`);
        }
        result.browser = `Chromium ${browser.version()}`;
        timings.browser_start = elapsed();
        progress(`${result.browser} started; page at ${base}`);

        for (const user of opts.users) {
            const context = await browser.newContext({ viewport: { width: 640, height: 620 } });
            const page = await context.newPage();
            page.on('console', m => opts.verbose && progress(`[${user.name} console] ${m.text()}`));
            page.on('pageerror', e => progress(`[${user.name} page error] ${e.message}`));
            try {
                await page.goto(base, { timeout: 10000 });
                await page.waitForFunction(() => window.sipClient && window.sipClient.ready, null, { timeout: 10000 });
            } catch (e) {
                throw new SetupError(`the page did not load for ${user.name}: ${e.message.split('\n')[0]}`);
            }
            const created = await call(page, (sip, a) => sip.create(a), {
                wsUrl: opts.wsUrl,
                uri: user.uri,
                password: user.password,
                displayName: user.displayName,
                authorizationUser: user.authorizationUser,
                debug: opts.verbose,
                epoch: t0,
            });
            if (!created.ok) throw new SetupError(`JsSIP user agent for ${user.uri}: ${created.message}`);
            result.jssip = created.jssip;
            pages.push({ user, page });
        }
        timings.pages_ready = elapsed();

        // ---- REGISTER, every user at once
        const regs = await Promise.all(pages.map(async p => {
            const r = await call(p.page, (sip, ms) => sip.register(ms), opts.timeout);
            const entry = { user: p.user.name, uri: p.user.uri, ...r };
            progress(`REGISTER ${p.user.uri}: ${r.ok ? `${r.status} ${r.reason} in ${r.ms} ms` : r.message}`);
            return entry;
        }));
        result.registrations = regs;
        timings.registered = elapsed();
        const failedReg = regs.find(r => !r.ok);
        if (failedReg) {
            result.error = `REGISTER of ${failedReg.uri} failed: ${failedReg.message.replace(/^REGISTER failed: /, '')}`;
            if (/could not be opened/.test(failedReg.message)) {
                result.error += opts.wsUrl.startsWith('wss:')
                    ? ' — nothing listening, the upgrade refused, or the TLS certificate not trusted (--ca-cert, --trust-cert, --ignore-certificate-errors)'
                    : ' — nothing listening, or the WebSocket upgrade refused (subprotocol "sip"?)';
            }
            return finish(1);
        }
        if (opts.readyFile) writeFileSync(opts.readyFile, JSON.stringify({ registrations: regs }) + '\n');

        // ---- MESSAGEs
        const exchange = async (sender, target, body, receiver, fromFilter) => {
            const entry = { from: sender.user.uri, to: target, body, status: null, reason: null, sent_ms: null, delivered: null, delivered_ms: null };
            result.messages.push(entry);
            const tSend = Date.now();
            const sent = await call(sender.page, (sip, a) => sip.message(a.target, a.body, 'text/plain', a.timeout), { target, body, timeout: opts.timeout });
            entry.status = sent.status;
            entry.reason = sent.reason;
            entry.sent_ms = Date.now() - tSend;
            progress(`MESSAGE ${sender.user.uri} → ${target}: ${sent.ok ? `${sent.status} ${sent.reason} in ${entry.sent_ms} ms` : sent.message}`);
            if (!sent.ok) {
                entry.cause = sent.cause;
                throw new Error(`MESSAGE ${sender.user.uri} → ${target} failed: ${sent.message.replace(/^MESSAGE failed: /, '')}`);
            }
            if (receiver) {
                const got = await call(receiver.page, (sip, f) => sip.waitForMessage(f), { body, timeoutMs: opts.timeout });
                entry.delivered = got.ok;
                entry.delivered_ms = got.ok ? got.at - tSend : null;
                if (got.ok) entry.received_from = got.from;
                progress(`delivery to ${receiver.user.uri}: ${got.ok ? `from ${got.from} after ${entry.delivered_ms} ms` : got.message}`);
                if (!got.ok) throw new Error(`MESSAGE ${sender.user.uri} → ${target} answered ${sent.status} but never arrived: ${got.message}`);
            }
            return entry;
        };

        try {
            if (!opts.peer) {
                const [a, b] = pages;
                const body = opts.body || `Hello ${b.user.displayName}, ${a.user.displayName} here (run ${runId})`;
                await exchange(a, b.user.uri, body, b);
                await exchange(b, a.user.uri, `re: ${body}`, a);
            } else {
                const [a] = pages;
                const tWait = Date.now();
                const body = opts.body || `Hello peer, ${a.user.displayName} here (run ${runId})`;
                await exchange(a, opts.peer, body, null);
                const got = await call(a.page, (sip, f) => sip.waitForMessage(f), { from: opts.peerFrom, timeoutMs: opts.timeout });
                const entry = { from: got.ok ? got.from : opts.peer, to: a.user.uri, body: got.ok ? got.body : null, status: null, reason: null, delivered: got.ok, delivered_ms: got.ok ? got.at - tWait : null };
                result.messages.push(entry);
                progress(`MESSAGE from the peer (${opts.peerFrom}): ${got.ok ? `${JSON.stringify(got.body)} from ${got.from}` : got.message}`);
                if (!got.ok) throw new Error(`no MESSAGE from the peer (From containing "${opts.peerFrom}") arrived: ${got.message}`);
            }
        } catch (e) {
            result.error = e.message;
            timings.messages = elapsed();
            return finish(1);
        }
        timings.messages = elapsed();
        // Everything that was asked for arrived: the run passes; the
        // un-REGISTERs are reported, not judged.
        exitCode = 0;

        if (opts.unregister) {
            result.unregistrations = await Promise.all(pages.map(async p => {
                const r = await call(p.page, (sip, ms) => sip.stop(ms), Math.min(opts.timeout, 5000));
                return { user: p.user.name, ...r };
            }));
            timings.unregistered = elapsed();
            unregistered = true;
        }
        return finish(exitCode);
    } catch (e) {
        result.error = e.message;
        return finish(e instanceof SetupError || e instanceof UsageError ? (e instanceof UsageError ? 2 : 3) : 1);
    }
}

function withTimeout(promise, ms) {
    let timer;
    return Promise.race([
        promise,
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms); }),
    ]).finally(() => clearTimeout(timer));
}

main();
