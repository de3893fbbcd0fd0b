/**
 * The catalog of each upstream: relations, columns, types, views and functions, loaded from the
 * upstream's system catalogs with the gateway's own connection (`load.ts`) and kept fresh
 * (`service.ts`), with the names renamed objects had before (`renames.ts`). Name resolution
 * against a snapshot lives with the analyser (`sql/`), which is pure; this part holds the I/O.
 */
export type { CatalogSnapshot, CatalogRelation, CatalogColumn, CatalogFunction, RelationKind } from './types.ts';
export { loadCatalog, type CatalogQueryable } from './load.ts';
export { CatalogService, type CatalogServiceOptions } from './service.ts';
export { trackRenames, formerNamesOf, formerColumnNames, formerRelationNames, objectKey, type FormerName, type FormerNames } from './renames.ts';
