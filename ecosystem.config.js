// pm2 process file for the four services and the local trace viewer (`traces serve`), run from
// their release binaries in cargo's target directory (`target/release/`, or wherever
// CARGO_TARGET_DIR or build.target-dir puts it):
//
//   cargo build --release
//   ADMIN_USERNAME=admin ADMIN_PASSWORD='a-long-password' pm2 start ecosystem.config.js
//   pm2 logs              # follow all four; pm2 ls, pm2 describe blog-service, ...
//   pm2 delete all        # stop them (SIGINT, then SIGKILL after kill_timeout)
//
// These settings can be overridden from the shell that runs `pm2 start`; without overrides the
// services get their defaults (docs/configuration.md):
//
//   AUTHEN_PORT, USER_PORT, BLOG_PORT, AUTHOR_PORT   3001, 3002, 3003, 3004 (as for scripts/up.sh)
//   MONGODB_URI, MONGODB_DB    mongodb://localhost:27017, blog
//   AUTHOR_URL                 http://127.0.0.1:$AUTHOR_PORT
//   JWT_PRIVATE_KEY, JWT_PUBLIC_KEY   keys/private.pem, keys/public.pem (scripts/gen-keys.sh makes them)
//   OTEL_EXPORTER_OTLP_ENDPOINT       http://localhost:4317 (Jaeger from docker compose)
//   OTEL_LOGS_EXPORTER         otlp: log records go with the spans; set none when they go to
//                              Jaeger, which keeps no logs (docs/deploy.md, "Log records")
//   RUST_LOG                   info
//   FLAGS_FILE                 flags.json (the scenario flags; scripts/scenario.sh switches them)
//   ADMIN_USERNAME, ADMIN_PASSWORD    user-service's bootstrap administrator; unset: none
//   PM2_LOG_DIR                .data/logs/pm2 (this project's setting, not one of pm2's own)
//   TRACES_DATA                .data/traces: where the trace viewer keeps its traces
//   TRACES_OTLP_GRPC, TRACES_OTLP_HTTP, TRACES_UI   the viewer's addresses: 127.0.0.1:4317,
//                              127.0.0.1:4318, 127.0.0.1:16686 (where the services send by default,
//                              and Jaeger's UI port)
//
// pm2 hands each app the environment of the shell that ran `pm2 start` (so OTEL_*,
// JWT_ISSUER, ... pass through as they are), overlaid with the `env` below. The one exception is
// the administrator's credentials: they reach user-service only, which is the one that needs them.
//
// Logs go to one file per service under .data/logs/pm2/ (next to scripts/up.sh's logs in
// .data/logs/, git-ignored) rather than pm2's default ~/.pm2/logs/, so they stay with the project
// they belong to and do not pile up with other projects' apps; `pm2 logs` reads them all the same.
//
// The trace viewer keeps the traces, their log records and the monitor's counts in .data/traces,
// so that a restart (of it, of pm2, of the machine) finds them (docs/viewer.md, "Keeping traces
// across restarts"). Where Jaeger already holds its ports (docker compose up), it cannot listen:
// pm2 marks it errored after its tries and the services export to Jaeger as before.
//
// The services, their order, ports and variables are the platform's (tools/launcher's
// definition); tests/pm2.rs checks that this file says the same.

'use strict';

const childProcess = require('child_process');
const fs = require('fs');
const path = require('path');

const env = process.env;
const root = __dirname;

// Where cargo builds: `cargo metadata` knows (it reads CARGO_TARGET_DIR and build.target-dir);
// without cargo on PATH, CARGO_TARGET_DIR or target/.
function targetDir() {
  try {
    const metadata = childProcess.execFileSync(
      'cargo', ['metadata', '--format-version', '1', '--no-deps'],
      { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return JSON.parse(metadata).target_directory;
  } catch (error) {
    return path.resolve(root, env.CARGO_TARGET_DIR || 'target');
  }
}

const releaseDir = path.join(targetDir(), 'release');

const ports = {
  author: env.AUTHOR_PORT || 3004,
  authen: env.AUTHEN_PORT || 3001,
  user: env.USER_PORT || 3002,
  blog: env.BLOG_PORT || 3003,
};

const logDir = path.resolve(root, env.PM2_LOG_DIR || '.data/logs/pm2');
// pm2 would create it too, but with a "Folder does not exist" warning on every first start.
fs.mkdirSync(logDir, { recursive: true });

// What every service gets. The keys default to absolute paths, so they do not depend on a cwd.
const common = {
  // Loopback only, as with scripts/up.sh. Deliberately not taken from the shell: some shells
  // (tcsh) export HOST as the machine's name, which would expose the services on the network.
  HOST: '127.0.0.1',
  MONGODB_URI: env.MONGODB_URI || 'mongodb://localhost:27017',
  MONGODB_DB: env.MONGODB_DB || 'blog',
  AUTHOR_URL: env.AUTHOR_URL || `http://127.0.0.1:${ports.author}`,
  JWT_PRIVATE_KEY: env.JWT_PRIVATE_KEY || path.join(root, 'keys/private.pem'),
  JWT_PUBLIC_KEY: env.JWT_PUBLIC_KEY || path.join(root, 'keys/public.pem'),
  OTEL_EXPORTER_OTLP_ENDPOINT: env.OTEL_EXPORTER_OTLP_ENDPOINT || 'http://localhost:4317',
  RUST_LOG: env.RUST_LOG || 'info',
  FLAGS_FILE: env.FLAGS_FILE || path.join(root, 'flags.json'),
};

// The administrator's credentials, only when set in the shell (both, or user-service refuses to
// start: one without the other is a mistake it names).
const admin = {};
for (const name of ['ADMIN_USERNAME', 'ADMIN_PASSWORD']) {
  if (env[name]) {
    admin[name] = env[name];
  }
}

// nativeApp(name, args, env): the pm2 app running <target>/release/<name> with these arguments.
function nativeApp(name, args, env) {
  return {
    name,
    script: path.join(releaseDir, name),
    args,
    cwd: root,
    interpreter: 'none', // a native binary, not a Node.js script
    exec_mode: 'fork',
    instances: 1,
    watch: false,
    autorestart: true,
    // A crash is followed by a restart 1 s later. A process that dies within 5 s of starting (a
    // missing key file, a bad setting, a damaged data directory, ports taken) is given up after
    // 10 such tries in a row ("errored" in `pm2 ls`; its log names the problem) instead of
    // looping for ever.
    restart_delay: 1000,
    min_uptime: 5000,
    max_restarts: 10,
    // pm2 stops an app (pm2 stop/restart/delete/kill, a reload) with SIGINT, then SIGKILL once
    // kill_timeout ms have passed. The services need up to 5 s after SIGINT to finish in-flight
    // requests and flush their buffered spans to the collector (the viewer stops within 3 s,
    // every acknowledged span already on disk); pm2's default of 1.6 s would kill them halfway
    // and lose the last traces. 6 s leaves a margin over the 5 s.
    kill_timeout: 6000,
    // The shell's ADMIN_* are not handed to every app (see above); user-service gets them back
    // through `env`.
    filter_env: ['ADMIN_USERNAME', 'ADMIN_PASSWORD'],
    out_file: path.join(logDir, `${name}.out.log`),
    error_file: path.join(logDir, `${name}.error.log`),
    merge_logs: true,
    env,
  };
}

// service(short, extraEnv): the pm2 app running <target>/release/<short>-service.
function service(short, extraEnv = {}) {
  return nativeApp(`${short}-service`, [], { ...common, PORT: String(ports[short]), ...extraEnv });
}

// viewer(): the pm2 app running <target>/release/traces serve --data .data/traces.
function viewer() {
  return nativeApp('traces', [
    'serve',
    '--data', path.resolve(root, env.TRACES_DATA || '.data/traces'),
    '--otlp-grpc', env.TRACES_OTLP_GRPC || '127.0.0.1:4317',
    '--otlp-http', env.TRACES_OTLP_HTTP || '127.0.0.1:4318',
    '--ui', env.TRACES_UI || '127.0.0.1:16686',
  ], {});
}

module.exports = {
  // The viewer first, so that it receives the services' first spans; then author-service: the
  // /readyz of user- and blog-service asks it.
  apps: [
    viewer(),
    service('author'),
    service('authen'),
    service('user', admin),
    service('blog'),
  ],
};
