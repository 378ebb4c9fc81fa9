import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The console is served by the Parley server at `/`. During `npm run dev -w @parley/console`
// API calls and the docs pages are proxied to a Parley server on port 7801.
const devServer = 'http://127.0.0.1:7801';

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    rolldownOptions: {
      output: {
        codeSplitting: {
          groups: [
            { name: 'react', test: /node_modules[\\/](react|react-dom|scheduler)[\\/]/ },
            { name: 'vendor', test: /node_modules/ },
          ],
        },
      },
    },
  },
  server: {
    proxy: {
      '/api': devServer,
      '/docs': devServer,
    },
  },
});
