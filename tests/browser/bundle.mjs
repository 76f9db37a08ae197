// Bundles JsSIP for the browser, in memory, from what `npm ci` put in
// node_modules.
//
// JsSIP 3.13 ships only its CommonJS sources (lib/), no prebuilt
// dist/jssip.min.js, so the driver's static server serves this bundle at
// /jssip.js instead. It walks the require() graph from jssip/lib/JsSIP.js
// (every require in JsSIP and its three runtime dependencies — events,
// debug, sdp-transform — takes a string literal), resolves each name the way
// a browser bundler does (package.json "browser" before "main", so debug's
// browser build and never its Node one), and wraps every module in a
// function. No bundler, no build step, nothing downloaded.
//
//   node tests/browser/bundle.mjs > jssip.js    writes the bundle (to look at)
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const nodeModules = join(here, 'node_modules');

function fileOrIndex(base) {
    for (const candidate of [base, `${base}.js`, `${base}.json`, join(base, 'index.js')]) {
        if (existsSync(candidate) && statSync(candidate).isFile()) {
            return candidate;
        }
    }
    return null;
}

function packageEntry(dir) {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const entry = typeof manifest.browser === 'string' ? manifest.browser : manifest.main || 'index.js';
    return fileOrIndex(join(dir, entry));
}

function resolve(name, fromFile) {
    let found;
    if (name.startsWith('./') || name.startsWith('../')) {
        found = fileOrIndex(join(dirname(fromFile), name));
    } else {
        const dir = join(nodeModules, name);
        found = existsSync(join(dir, 'package.json')) ? packageEntry(dir) : fileOrIndex(dir);
    }
    if (!found) {
        throw new Error(`bundle: cannot resolve require('${name}') from ${relative(here, fromFile)}`);
    }
    return found;
}

// Matches require('x') and require("x") outside line comments; JsSIP's
// sources have no other form.
const requireCall = /(?<![.\w$])require\(\s*(['"])([^'"]+)\1\s*\)/g;

/** Returns the bundle's source: a script that sets window.JsSIP. */
export function bundleJsSIP() {
    const entry = packageEntry(join(nodeModules, 'jssip'));
    const ids = new Map(); // absolute path -> module id
    const modules = [];
    const queue = [entry];
    ids.set(entry, 0);
    while (queue.length) {
        const file = queue.shift();
        const source = readFileSync(file, 'utf8');
        const deps = {};
        if (!file.endsWith('.json')) {
            const code = source.replace(/^\s*\/\/.*$/gm, '');
            for (const match of code.matchAll(requireCall)) {
                const name = match[2];
                const target = resolve(name, file);
                if (!ids.has(target)) {
                    ids.set(target, ids.size);
                    queue.push(target);
                }
                deps[name] = ids.get(target);
            }
        }
        const body = file.endsWith('.json') ? `module.exports = ${source.trim()};` : source;
        modules[ids.get(file)] =
            `/* ${relative(nodeModules, file)} */ [function (require, module, exports) {\n${body}\n}, ${JSON.stringify(deps)}]`;
    }
    return `/* JsSIP for the browser, bundled by tests/browser/bundle.mjs from node_modules */
(function () {
  'use strict';
  var modules = [
${modules.join(',\n')}
  ];
  var cache = [];
  function load(id) {
    if (cache[id]) return cache[id].exports;
    var module = { exports: {} };
    cache[id] = module;
    var deps = modules[id][1];
    modules[id][0].call(module.exports, function (name) {
      if (!(name in deps)) throw new Error('JsSIP bundle: no module ' + name);
      return load(deps[name]);
    }, module, module.exports);
    return module.exports;
  }
  window.JsSIP = load(0);
})();
`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
    process.stdout.write(bundleJsSIP());
}
