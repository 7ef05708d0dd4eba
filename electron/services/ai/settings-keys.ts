/**
 * Study-index setting keys of the AI services, in a module with no imports so
 * the CLI's import command can read them without loading the AI code.
 */

/** 'true': queue every applicable model after each import. */
export const AI_AUTO_RUN_ON_IMPORT_SETTING = 'ai.autoRunOnImport';
