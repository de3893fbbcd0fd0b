/**
 * The catalog of each upstream: relations, columns, types, views and functions, loaded from the
 * upstream's system catalogs with the gateway's own connection (`load.ts`) and kept fresh
 * (`service.ts`), with the names renamed objects had before (`renames.ts`), and written to or read
 * from a file (`snapshot-file.ts`, for policy tests without a database). Name resolution
 * against a snapshot lives with the analyser (`sql/`), which is pure; this part holds the I/O.
 */
export type { CatalogSnapshot, CatalogRelation, CatalogColumn, CatalogFunction, RelationKind } from './types.ts';
export { loadCatalog, loadCatalogContents, snapshotFrom, type CatalogQueryable, type CatalogContents } from './load.ts';
export { parseCatalogFile, contentsOf, CATALOG_SNAPSHOT_FORMAT, type CatalogFile } from './snapshot-file.ts';
export { CatalogService, type CatalogServiceOptions } from './service.ts';
export { relativesOf, withHierarchy } from './hierarchy.ts';
export { trackRenames, formerNamesOf, formerColumnNames, formerRelationNames, objectKey, type FormerName, type FormerNames } from './renames.ts';
