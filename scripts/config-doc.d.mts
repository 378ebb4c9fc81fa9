// Types of config-doc.mjs for the TypeScript test that imports it.
import type { SettingReference } from '../packages/server/src/config/config.ts';

export declare const configDocFile: URL;
export declare const startMarker: string;
export declare const endMarker: string;
export declare function renderSettings(reference: readonly SettingReference[]): string;
export declare function renderConfigDoc(doc: string, reference: readonly SettingReference[]): Promise<string>;
