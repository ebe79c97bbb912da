// Registers our search attributes with the server at every start. `start-dev --search-attribute` is applied only
// when the namespace is first created, so a db file from an older version silently lacks newer attributes; and
// addSearchAttributes answers OK, changing nothing, for a name that exists with another type
// (docs/temporal.md, "Dev server"). Hence: add what is missing, then read the list back and check it.
import { isGrpcServiceError, type Connection } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';

/** What `defineSearchAttributeKey` returns; @temporalio/common 1.24 does not export this type by name. */
export interface SearchAttributeKey {
  readonly name: string;
  readonly type: SearchAttributeType;
}

/** temporal.api.enums.v1.IndexedValueType, as the operator service sends and expects it. */
const INDEXED_VALUE_TYPE: Record<SearchAttributeType, number> = {
  TEXT: 1,
  KEYWORD: 2,
  INT: 3,
  DOUBLE: 4,
  BOOL: 5,
  DATETIME: 6,
  KEYWORD_LIST: 7,
};
const typeName = (n: number | undefined) =>
  (Object.keys(INDEXED_VALUE_TYPE) as SearchAttributeType[]).find((t) => INDEXED_VALUE_TYPE[t] === n) ?? `type #${n}`;

const GRPC_ALREADY_EXISTS = 6;

export async function registerSearchAttributes(
  connection: Connection,
  namespace: string,
  keys: readonly SearchAttributeKey[],
): Promise<void> {
  const registered = async (): Promise<Record<string, number>> => {
    const res = await connection.operatorService.listSearchAttributes({ namespace });
    return { ...res.systemAttributes, ...res.customAttributes } as Record<string, number>;
  };
  const check = (current: Record<string, number>) => {
    const clashes = keys.filter((k) => k.name in current && current[k.name] !== INDEXED_VALUE_TYPE[k.type]);
    if (clashes.length === 0) return;
    throw new Error(
      clashes
        .map(
          (k) =>
            `Search attribute ${k.name} exists in namespace "${namespace}" as ${typeName(current[k.name])}, ` +
            `but this service needs ${k.type}.`,
        )
        .join('\n') +
        '\nA search attribute cannot change type: remove it (temporal operator search-attribute delete --name ' +
        '<name>) or use another namespace or dev-server db file.',
    );
  };

  const before = await registered();
  check(before);
  const missing = keys.filter((k) => !(k.name in before));
  if (missing.length > 0) {
    try {
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map((k) => [k.name, INDEXED_VALUE_TYPE[k.type]])),
      });
    } catch (err) {
      // A concurrent starter (another process, or the test setup) registered them first.
      if (!(isGrpcServiceError(err) && err.code === GRPC_ALREADY_EXISTS)) throw err;
    }
  }
  const after = await registered();
  check(after);
  const absent = keys.filter((k) => !(k.name in after)).map((k) => k.name);
  if (absent.length > 0)
    throw new Error(`Search attributes not registered in namespace "${namespace}": ${absent.join(', ')}`);
}
