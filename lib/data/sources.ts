// Where labels come from: car file names (flat folders, the default), one folder per class (as Keras
// image_dataset_from_directory and torchvision ImageFolder read it), or a CSV/JSONL manifest of file,label.
import * as fsp from 'fs/promises';
import * as path from 'path';
import { DatasetLabelType, LabelledFile, labelByFilename, RejectedFile } from './dataset';
import { LabelType, parseCarFilename } from './filename';
import { readLabelManifest } from './label-manifest';
import { compareStrings, isImageName, scanFiles, scanImages } from './scan';
import { SplitName } from './split';
import { oneOf } from '../validate';

export const LAYOUTS = ['auto', 'filenames', 'folders', 'manifest'] as const;
export type Layout = (typeof LAYOUTS)[number];
export type ResolvedLayout = Exclude<Layout, 'auto'>;

export interface SourceFile extends LabelledFile {
  /** A split given by the source itself (a manifest's split column). */
  split?: SplitName;
}

export interface LabelledSource {
  layout: ResolvedLayout;
  labelType: DatasetLabelType;
  /** The folder entries are relative to: the scanned folder, or the manifest's folder. */
  root: string;
  labelled: SourceFile[];
  rejected: RejectedFile[];
  /** Folder layout: every class folder, also the empty ones (so they show up as dropped, not vanish). */
  knownClasses?: string[];
  /** Regular files that are not images by extension (.bmp, .txt, ...): not read, but counted and reported. */
  others: string[];
}

/** True for paths read as a label manifest (file,label) rather than a run's manifest.json. */
export function isLabelManifestPath(file: string): boolean {
  return /\.(csv|jsonl|ndjson)$/i.test(file);
}

async function statDir(dir: string): Promise<void> {
  const stat = await fsp.stat(dir).catch((e: NodeJS.ErrnoException) => {
    throw new Error(`Cannot scan ${dir}: ${e.code === 'ENOENT' ? 'no such directory' : e.message}`);
  });
  if (!stat.isDirectory()) throw new Error(`Cannot scan ${dir}: not a directory`);
}

/** Direct entries of `dir`, symlinks followed: sub-folders (sorted), image files and other files. */
async function topLevel(dir: string): Promise<{ folders: string[]; images: string[]; others: string[] }> {
  const folders: string[] = [];
  const images: string[] = [];
  const others: string[] = [];
  for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    const stat = entry.isSymbolicLink() ? await fsp.stat(full).catch(() => null) : entry;
    if (!stat) continue;
    if (stat.isDirectory()) folders.push(entry.name);
    else if (stat.isFile()) (isImageName(entry.name) ? images : others).push(full);
  }
  return { folders: folders.sort(compareStrings), images: images.sort(compareStrings), others: others.sort(compareStrings) };
}

/**
 * 'filenames' when the folder holds images itself, or when at least half of the images below it have car file
 * names (the car dataset sorted into sub-folders); 'folders' when it holds only sub-folders of other images.
 */
export async function detectLayout(dir: string): Promise<'filenames' | 'folders'> {
  const root = path.resolve(dir);
  await statDir(root);
  const { folders, images } = await topLevel(root);
  if (images.length > 0 || folders.length === 0) return 'filenames';
  // Most names parse: the car dataset in sub-folders (the few that do not are rejected and reported, as in a flat folder).
  const all = await scanImages(root);
  const parsed = all.filter((f) => parseCarFilename(f).ok).length;
  return all.length > 0 && parsed * 2 >= all.length ? 'filenames' : 'folders';
}

/** Folder per class: each direct sub-folder is a class (sorted), with the images anywhere below it. */
export async function labelByFolder(dir: string): Promise<{ labelled: LabelledFile[]; rejected: RejectedFile[]; knownClasses: string[]; others: string[] }> {
  const root = path.resolve(dir);
  await statDir(root);
  const { folders, images, others } = await topLevel(root);
  const rejected = images.map((file) => ({ file, reason: 'not inside a class folder (folder layout: <dir>/<class>/<image>)' }));
  const labelled: LabelledFile[] = [];
  for (const name of folders) {
    const scanned = await scanFiles(path.join(root, name));
    for (const file of scanned.images) labelled.push({ file, name });
    others.push(...scanned.others);
  }
  return { labelled, rejected, knownClasses: folders, others };
}

/** Labels the images of `source` (a folder, or a .csv/.jsonl manifest) by the chosen or detected layout. */
export async function labelSource(source: string, options: { layout?: Layout; labelType?: LabelType } = {}): Promise<LabelledSource> {
  let layout = oneOf('layout', options.layout ?? 'auto', LAYOUTS);
  const target = path.resolve(source);
  if (layout === 'auto' && isLabelManifestPath(target)) layout = 'manifest';
  if (layout === 'manifest') {
    if (!isLabelManifestPath(target)) throw new Error(`layout 'manifest' reads a .csv or .jsonl file of file,label rows, but received ${target}`);
    if (options.labelType !== undefined) throw new Error('labelType (--label-type) applies to the file-name layout; a manifest gives each file its label');
    const m = await readLabelManifest(target);
    return { layout, labelType: 'manifest', root: m.root, labelled: m.rows, rejected: [], others: [] };
  }
  if (isLabelManifestPath(target)) throw new Error(`layout '${layout}' reads a folder, but ${target} is a label manifest; use layout 'manifest' (--layout manifest) or leave layout out`);
  const resolved = layout === 'auto' ? await detectLayout(target) : layout;
  if (resolved === 'folders') {
    if (options.labelType !== undefined) throw new Error('labelType (--label-type) applies to the file-name layout; in the folder layout the folder name is the class');
    const { labelled, rejected, knownClasses, others } = await labelByFolder(target);
    return { layout: resolved, labelType: 'folder', root: target, labelled, rejected, knownClasses, others };
  }
  const labelType = options.labelType ?? 'make';
  const scanned = await scanFiles(target);
  const { labelled, rejected } = labelByFilename(scanned.images, labelType);
  return { layout: resolved, labelType, root: target, labelled, rejected, others: scanned.others };
}
