import { readdirSync, readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import type { FerryObject } from "./generated/types.ts";

const samplesDirectory = new URL("../samples/", import.meta.url);

/** Every object of crds/samples, with the file it came from. */
export function samples(): { file: string; object: FerryObject }[] {
  return readdirSync(samplesDirectory)
    .filter((file) => file.endsWith(".yaml"))
    .sort()
    .flatMap((file) =>
      parseAllDocuments(readFileSync(new URL(file, samplesDirectory), "utf8")).map((doc) => ({
        file,
        object: doc.toJS() as FerryObject,
      })),
    );
}
