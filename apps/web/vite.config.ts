import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

// `npm run dev`: Vite with the API (and its terminal sockets) proxied to a running server, so the
// app is same-origin as in production and the session cookie works unchanged.
export default defineConfig({
  plugins: [vue()],
  server: {
    proxy: {
      '/api': { target: process.env.TIANQI_API_URL ?? 'http://localhost:8888', ws: true },
    },
  },
  build: { target: 'es2022', sourcemap: false },
});
