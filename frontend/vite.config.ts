import type { ProxyOptions } from 'vite';
import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// Development only: the dev server forwards /api to a local Veritrail. When
// VERITRAIL_DEV_KEY is set, the proxy adds it as a Bearer key so the existing
// key-authenticated endpoints answer before the session login exists. The
// built app never carries a key.
const target = process.env.VERITRAIL_DEV_URL ?? 'http://127.0.0.1:8080';
const devKey = process.env.VERITRAIL_DEV_KEY;

const api: ProxyOptions = {
  target,
  changeOrigin: false,
  ws: true,
  configure(proxy) {
    if (!devKey) return;
    proxy.on('proxyReq', (req) => {
      req.setHeader('Authorization', `Bearer ${devKey}`);
    });
    proxy.on('proxyReqWs', (req) => {
      req.setHeader('Authorization', `Bearer ${devKey}`);
    });
  },
};

export default defineConfig({
  plugins: [react()],
  server: {
    port: 5173,
    strictPort: true,
    proxy: { '/api': api },
  },
  // `vite preview` serves the build with the CSP the server is expected to
  // send, so a violation shows up in the browser console before it ships.
  preview: {
    port: 4173,
    proxy: { '/api': api },
    headers: {
      'Content-Security-Policy':
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    // The CSP forbids inline scripts; Vite emits external module scripts only.
    modulePreload: { polyfill: false },
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
});
