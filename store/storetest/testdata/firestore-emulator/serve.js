'use strict';

// Serves the Firestore emulator of @firestore-emulator/server on a free
// loopback port for the store package's tests.
//
// Usage: node serve.js [port]   (port 0 or none: the system picks one)
//
// Prints one line "listening 127.0.0.1:PORT" once the server accepts
// connections, and exits when its standard input closes, so the emulator
// never outlives the test binary that started it.

const { ServerCredentials } = require('@grpc/grpc-js');
const { FirestoreServer } = require('@firestore-emulator/server');

const port = Number(process.argv[2] || 0);
const emulator = new FirestoreServer();

// The package's own start() binds every interface; bind loopback only.
emulator.server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err, bound) => {
  if (err) {
    console.error(`firestore emulator: bind 127.0.0.1:${port}: ${err.message}`);
    process.exit(1);
  }
  process.stdout.write(`listening 127.0.0.1:${bound}\n`);
});

function stop() {
  emulator.stop();
  process.exit(0);
}

process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
