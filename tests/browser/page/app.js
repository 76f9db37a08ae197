// The browser side of sipwarden's WebSocket end-to-end test: one JsSIP user
// agent per page, driven by tests/browser/run.mjs through window.sipClient.
//
//   sipClient.create({ wsUrl, uri, password, displayName, authorizationUser?,
//                      registrarServer?, expires?, debug?, epoch? })
//       builds the JsSIP.UA (one WebSocket, subprotocol "sip"; no REGISTER yet)
//   sipClient.register(timeoutMs) -> { status, reason, ms, expires }
//       connects, REGISTERs (JsSIP answers 401/407 itself with the password);
//       rejects with an Error carrying .status, .reason and .cause
//   sipClient.message(target, body, contentType?, timeoutMs?) -> { status, reason, ms }
//       sends a MESSAGE; rejects like register() on a final non-2xx or no answer
//   sipClient.received() -> [{ from, fromDisplay, to, ruri, body, contentType, at }]
//   sipClient.waitForMessage({ from?, body?, timeoutMs? }) -> the first match
//   sipClient.trace() -> every SIP message on the WebSocket, { dir, at, text }
//   sipClient.stop(timeoutMs) -> { unregistered, status? }: un-REGISTERs, closes
//
// Every step is also written to the page (#log, #inbox), so that a
// screenshot shows the exchange.
(function () {
    'use strict';

    // Log times count from the driver's start (create's `epoch`, a
    // Date.now() value) so that every page of a run shares one clock.
    let epoch = Date.now();
    const state = { ua: null, registered: false, everConnected: false, stopping: false, inbox: [], wire: [], waiters: [], conf: null };

    const el = id => document.getElementById(id);
    function stamp() {
        return `${((Date.now() - epoch) / 1000).toFixed(3)}s`;
    }
    function log(kind, text) {
        const li = document.createElement('li');
        li.className = kind;
        const t = document.createElement('span');
        t.className = 't';
        t.textContent = stamp();
        const m = document.createElement('span');
        m.textContent = text;
        li.append(t, m);
        el('log').append(li);
    }
    function setState(name) {
        el('state').textContent = name;
        el('state').className = name;
    }
    function statusError(what, status, reason, cause) {
        const parts = [status, reason].filter(Boolean).join(' ');
        const err = new Error(`${what} failed: ${parts || 'no final response'}${cause ? ` (${cause})` : ''}`);
        err.status = status || null;
        err.reason = reason || null;
        err.cause = cause || null;
        return err;
    }
    function withTimeout(promise, ms, what) {
        let timer;
        const timeout = new Promise((_, reject) => {
            timer = setTimeout(() => reject(statusError(what, null, null, `no answer in ${ms} ms`)), ms);
        });
        return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
    }
    function firstLine(text) {
        const end = text.indexOf('\r\n');
        return end < 0 ? text : text.slice(0, end);
    }
    function matches(msg, filter) {
        if (filter.from && !msg.from.includes(filter.from)) return false;
        if (filter.body && !msg.body.includes(filter.body)) return false;
        return true;
    }

    // Wraps JsSIP's WebSocket so that every SIP message on it is recorded
    // (and its first line shown in the log).
    function tracedSocket(wsUrl) {
        const socket = new JsSIP.WebSocketInterface(wsUrl);
        const send = socket.send.bind(socket);
        socket.send = message => {
            state.wire.push({ dir: 'out', at: Date.now(), text: String(message) });
            log('wire', `→ ${firstLine(String(message))}`);
            return send(message);
        };
        let ondata = null;
        Object.defineProperty(socket, 'ondata', {
            configurable: true,
            get: () => ondata,
            set: fn => {
                ondata = data => {
                    // JsSIP takes text and binary frames alike.
                    const binary = typeof data !== 'string';
                    const text = binary ? new TextDecoder().decode(data) : data;
                    state.wire.push({ dir: 'in', at: Date.now(), text, binary });
                    if (text.trim()) log('wire', `← ${firstLine(text)}${binary ? ' (binary frame)' : ''}`);
                    return fn(data);
                };
            },
        });
        return socket;
    }

    function create(conf) {
        if (state.ua) throw new Error('sipClient.create: a user agent exists already');
        if (conf.debug) {
            // Plain "JsSIP:Module text" lines instead of debug's %c colours.
            JsSIP.debug.formatArgs = function (args) {
                args[0] = `${this.namespace} ${args[0]}`;
            };
            JsSIP.debug.enable('JsSIP:*');
        }
        else JsSIP.debug.disable();
        state.conf = conf;
        if (conf.epoch) epoch = conf.epoch;
        const ua = new JsSIP.UA({
            sockets: [tracedSocket(conf.wsUrl)],
            uri: conf.uri,
            password: conf.password,
            display_name: conf.displayName,
            authorization_user: conf.authorizationUser || undefined,
            registrar_server: conf.registrarServer || undefined,
            register: false,
            register_expires: conf.expires || 600,
            user_agent: `JsSIP ${JsSIP.version} (sipwarden browser e2e)`,
        });
        ua.on('connecting', () => log('info', `connecting to ${conf.wsUrl}`));
        ua.on('connected', () => {
            state.everConnected = true;
            setState(state.registered ? 'registered' : 'connected');
            log('ok', `WebSocket open (subprotocol sip) to ${conf.wsUrl}`);
        });
        ua.on('disconnected', e => {
            if (state.stopping) {
                setState('stopped');
                log('info', 'WebSocket closed');
                return;
            }
            setState('failed');
            const why = [e && e.code, e && e.reason].filter(Boolean).join(' ');
            log('err', `WebSocket closed${why ? `: ${why}` : ''}${e && e.error ? ' (error)' : ''}`);
        });
        ua.on('registered', e => {
            state.registered = true;
            setState('registered');
            log('ok', `registered: ${e.response.status_code} ${e.response.reason_phrase}`);
        });
        ua.on('unregistered', e => {
            state.registered = false;
            setState(state.stopping ? 'unregistered' : 'connected');
            log('info', `unregistered${e && e.response ? `: ${e.response.status_code} ${e.response.reason_phrase}` : ''}`);
        });
        ua.on('registrationFailed', e => {
            setState('failed');
            const r = e.response;
            log('err', `registration failed: ${r ? `${r.status_code} ${r.reason_phrase}` : 'no response'} (${e.cause})`);
        });
        ua.on('newMessage', e => {
            if (e.originator !== 'remote') return;
            const req = e.request;
            const msg = {
                from: req.from.uri.toString(),
                fromDisplay: req.from.display_name || null,
                to: req.to.uri.toString(),
                ruri: req.ruri.toString(),
                body: req.body || '',
                contentType: req.getHeader('Content-Type') || null,
                at: Date.now(),
            };
            state.inbox.push(msg);
            log('recv', `MESSAGE from ${msg.from}: “${msg.body}”`);
            const inbox = el('inbox');
            if (state.inbox.length === 1) inbox.textContent = '';
            const li = document.createElement('li');
            const from = document.createElement('div');
            from.className = 'from';
            from.textContent = `${msg.fromDisplay ? `${msg.fromDisplay} ` : ''}<${msg.from}>`;
            const body = document.createElement('div');
            body.className = 'body';
            body.textContent = msg.body;
            li.append(from, body);
            inbox.append(li);
            state.waiters = state.waiters.filter(w => (matches(msg, w.filter) ? (w.resolve(msg), false) : true));
        });
        state.ua = ua;
        el('name').textContent = conf.displayName || conf.uri;
        el('who').textContent = `${conf.uri}  via  ${conf.wsUrl}`;
        document.title = `${conf.displayName || conf.uri} — sipwarden browser client`;
        log('info', `JsSIP ${JsSIP.version} user agent for ${conf.uri}`);
        return { uri: conf.uri, jssip: JsSIP.version, userAgent: navigator.userAgent };
    }

    function requireUa() {
        if (!state.ua) throw new Error('sipClient: create() first');
        return state.ua;
    }

    function register(timeoutMs = 10000) {
        const ua = requireUa();
        const t0 = performance.now();
        const done = new Promise((resolve, reject) => {
            const onRegistered = e => {
                off();
                const c = e.response.getHeader('Expires');
                resolve({
                    status: e.response.status_code,
                    reason: e.response.reason_phrase,
                    ms: Math.round(performance.now() - t0),
                    expires: c ? Number(c) : null,
                });
            };
            const onFailed = e => {
                off();
                const r = e.response;
                reject(statusError('REGISTER', r && r.status_code, r && r.reason_phrase, e.cause));
            };
            const onDisconnected = e => {
                if (state.registered) return;
                off();
                const code = e && e.code ? ` (${e.code})` : '';
                reject(statusError('REGISTER', null, null,
                    state.everConnected ? `WebSocket closed${code}` : `the WebSocket could not be opened${code}`));
            };
            const onConnected = () => ua.register();
            function off() {
                ua.removeListener('registered', onRegistered);
                ua.removeListener('registrationFailed', onFailed);
                ua.removeListener('disconnected', onDisconnected);
                ua.removeListener('connected', onConnected);
            }
            ua.on('registered', onRegistered);
            ua.on('registrationFailed', onFailed);
            ua.on('disconnected', onDisconnected);
            if (ua.isConnected()) {
                ua.register();
            } else {
                ua.on('connected', onConnected);
                if (!ua.isConnected() && ua.status === 0 /* C.STATUS_INIT */) ua.start();
            }
        });
        log('info', `REGISTER ${state.conf.uri}`);
        return withTimeout(done, timeoutMs, 'REGISTER');
    }

    function message(target, body, contentType = 'text/plain', timeoutMs = 10000) {
        const ua = requireUa();
        const t0 = performance.now();
        log('sent', `MESSAGE to ${target}: “${body}”`);
        const done = new Promise((resolve, reject) => {
            ua.sendMessage(target, body, {
                contentType,
                eventHandlers: {
                    succeeded: e => {
                        const r = e.response;
                        log('ok', `MESSAGE to ${target} answered ${r.status_code} ${r.reason_phrase}`);
                        resolve({ status: r.status_code, reason: r.reason_phrase, ms: Math.round(performance.now() - t0) });
                    },
                    failed: e => {
                        const r = e.response;
                        log('err', `MESSAGE to ${target} failed: ${r ? `${r.status_code} ${r.reason_phrase}` : 'no response'} (${e.cause})`);
                        reject(statusError('MESSAGE', r && r.status_code, r && r.reason_phrase, e.cause));
                    },
                },
            });
        });
        return withTimeout(done, timeoutMs, 'MESSAGE');
    }

    function waitForMessage(filter = {}) {
        const found = state.inbox.find(m => matches(m, filter));
        if (found) return Promise.resolve(found);
        const timeoutMs = filter.timeoutMs || 10000;
        const what = `a MESSAGE${filter.from ? ` from ${filter.from}` : ''}${filter.body ? ` with “${filter.body}”` : ''}`;
        return new Promise((resolve, reject) => {
            const waiter = { filter, resolve: m => { clearTimeout(timer); resolve(m); } };
            const timer = setTimeout(() => {
                state.waiters = state.waiters.filter(w => w !== waiter);
                log('err', `no ${what.slice(2)} in ${timeoutMs} ms`);
                reject(new Error(`waiting for ${what}: nothing in ${timeoutMs} ms`));
            }, timeoutMs);
            state.waiters.push(waiter);
        });
    }

    async function stop(timeoutMs = 5000) {
        const ua = state.ua;
        if (!ua) return { unregistered: false };
        const result = { unregistered: false };
        state.stopping = true;
        if (state.registered && ua.isConnected()) {
            const done = new Promise(resolve => {
                const ok = e => { off(); resolve({ unregistered: true, status: e && e.response ? e.response.status_code : null }); };
                const bad = e => { off(); resolve({ unregistered: false, status: e && e.response ? e.response.status_code : null, cause: e && e.cause }); };
                function off() { ua.removeListener('unregistered', ok); ua.removeListener('registrationFailed', bad); }
                ua.on('unregistered', ok);
                ua.on('registrationFailed', bad);
                ua.unregister();
            });
            Object.assign(result, await withTimeout(done, timeoutMs, 'un-REGISTER').catch(e => ({ unregistered: false, cause: e.cause })));
        }
        ua.stop();
        setState('stopped');
        log('info', 'user agent stopped');
        return result;
    }

    window.sipClient = {
        create,
        register,
        message,
        waitForMessage,
        stop,
        received: () => state.inbox.slice(),
        trace: () => state.wire.slice(),
        log,
        ready: typeof JsSIP !== 'undefined',
    };
})();
