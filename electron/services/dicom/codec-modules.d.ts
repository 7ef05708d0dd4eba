// The Emscripten codec builds ship no types for their "/decode" entries; pixel-codecs.ts types what it uses.
declare module '@cornerstonejs/codec-libjpeg-turbo-8bit/decode';
declare module '@cornerstonejs/codec-charls/decode';
declare module '@cornerstonejs/codec-openjpeg/decode';
declare module '@cornerstonejs/codec-openjph';
declare module '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs';
declare module '@cornerstonejs/codec-charls/decodewasmjs';
declare module '@cornerstonejs/codec-openjpeg/decodewasmjs';
