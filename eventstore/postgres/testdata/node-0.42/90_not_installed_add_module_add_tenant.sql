-- NOT installed by @event-driven-io/emmett-postgresql@0.42.0 (defined/exported in src/eventStore/schema/tables.ts but not part of schemaSQL;
-- migration 0.38.7 actually DROPs add_module/add_tenant/add_module_for_all_tenants/add_tenant_for_all_modules).
-- Rendered from the exported constants addModuleSQL, addTenantSQL, addModuleForAllTenantsSQL, addTenantForAllModulesSQL.

-- ===== addModuleSQL =====

      CREATE OR REPLACE FUNCTION add_module(new_module TEXT) RETURNS void AS $$
      BEGIN
          -- For emt_messages table
          EXECUTE format('
              CREATE TABLE IF NOT EXISTS %I PARTITION OF %I
              FOR VALUES IN (emt_sanitize_name(%L || ''__'' || %L)) PARTITION BY LIST (is_archived);',
              emt_sanitize_name('emt_messages_' || new_module || '__' || 'global'), 'emt_messages', new_module, 'global'
          );
  
          EXECUTE format('
              CREATE TABLE IF NOT EXISTS %I_active PARTITION OF %I
              FOR VALUES IN (FALSE);',
              emt_sanitize_name('emt_messages_' || new_module || '__' || 'global' || '_active'), emt_sanitize_name('emt_messages_' || new_module || '__' || 'global')
          );
  
          EXECUTE format('
              CREATE TABLE IF NOT EXISTS %I_archived PARTITION OF %I
              FOR VALUES IN (TRUE);',
              emt_sanitize_name('emt_messages_' || new_module || '__' || 'global' || '_archived'), emt_sanitize_name('emt_messages_' || new_module || '__' || 'global')
          );
  
          -- For emt_streams table
          EXECUTE format('
              CREATE TABLE IF NOT EXISTS %I PARTITION OF %I
              FOR VALUES IN (emt_sanitize_name(%L || ''__'' || %L)) PARTITION BY LIST (is_archived);',
              emt_sanitize_name('emt_streams_' || new_module || '__' || 'global'), 'emt_streams', new_module, 'global'
          );
  
          EXECUTE format('
              CREATE TABLE IF NOT EXISTS %I_active PARTITION OF %I
              FOR VALUES IN (FALSE);',
              emt_sanitize_name('emt_streams_' || new_module || '__' || 'global' || '_active'), emt_sanitize_name('emt_streams_' || new_module || '__' || 'global')
          );
  
          EXECUTE format('
              CREATE TABLE IF NOT EXISTS %I_archived PARTITION OF %I
              FOR VALUES IN (TRUE);',
              emt_sanitize_name('emt_streams_' || new_module || '__' || 'global' || '_archived'), emt_sanitize_name('emt_streams_' || new_module || '__' || 'global')
          );
      END;
      $$ LANGUAGE plpgsql;
    
-- ===== addTenantSQL =====

    CREATE OR REPLACE FUNCTION add_tenant(new_module TEXT, new_tenant TEXT) RETURNS void AS $$
    BEGIN
        -- For emt_messages table
        EXECUTE format('
            CREATE TABLE IF NOT EXISTS %I PARTITION OF %I
            FOR VALUES IN (emt_sanitize_name(''%s__%s'')) PARTITION BY LIST (is_archived);',
            emt_sanitize_name('emt_messages_' || new_module || '__' || new_tenant), 'emt_messages', new_module, new_tenant
        );
  
        EXECUTE format('
            CREATE TABLE IF NOT EXISTS %I_active PARTITION OF %I
            FOR VALUES IN (FALSE);',
            emt_sanitize_name('emt_messages_' || new_module || '__' || new_tenant || '_active'), emt_sanitize_name('emt_messages_' || new_module || '__' || new_tenant)
        );
  
        EXECUTE format('
            CREATE TABLE IF NOT EXISTS %I_archived PARTITION OF %I
            FOR VALUES IN (TRUE);',
            emt_sanitize_name('emt_messages_' || new_module || '__' || new_tenant || '_archived'), emt_sanitize_name('emt_messages_' || new_module || '__' || new_tenant)
        );
  
        -- For emt_streams table
        EXECUTE format('
            CREATE TABLE IF NOT EXISTS %I PARTITION OF %I
            FOR VALUES IN (emt_sanitize_name(''%s__%s'')) PARTITION BY LIST (is_archived);',
            emt_sanitize_name('emt_streams_' || new_module || '__' || new_tenant), 'emt_streams', new_module, new_tenant
        );
  
        EXECUTE format('
            CREATE TABLE IF NOT EXISTS %I_active PARTITION OF %I
            FOR VALUES IN (FALSE);',
            emt_sanitize_name('emt_streams_' || new_module || '__' || new_tenant || '_active'), emt_sanitize_name('emt_streams_' || new_module || '__' || new_tenant)
        );
  
        EXECUTE format('
            CREATE TABLE IF NOT EXISTS %I_archived PARTITION OF %I
            FOR VALUES IN (TRUE);',
            emt_sanitize_name('emt_streams_' || new_module || '__' || new_tenant || '_archived'), emt_sanitize_name('emt_streams_' || new_module || '__' || new_tenant)
        );
    END;
    $$ LANGUAGE plpgsql;
  
-- ===== addModuleForAllTenantsSQL =====

    CREATE OR REPLACE FUNCTION add_module_for_all_tenants(new_module TEXT) RETURNS void AS $$
    DECLARE
        tenant_record RECORD;
    BEGIN
        PERFORM add_module(new_module);
  
        FOR tenant_record IN SELECT DISTINCT tenant FROM emt_messages
        LOOP
            -- For emt_messages table
            EXECUTE format('
                CREATE TABLE IF NOT EXISTS %I PARTITION OF %I
                FOR VALUES IN (emt_sanitize_name(''%s__%s'')) PARTITION BY LIST (is_archived);',
                emt_sanitize_name('emt_messages_' || new_module || '__' || tenant_record.tenant), 'emt_messages', new_module, tenant_record.tenant
            );
  
            EXECUTE format('
                CREATE TABLE IF NOT EXISTS %I_active PARTITION OF %I
                FOR VALUES IN (FALSE);',
                emt_sanitize_name('emt_messages_' || new_module || '__' || tenant_record.tenant || '_active'), emt_sanitize_name('emt_messages_' || new_module || '__' || tenant_record.tenant)
            );
  
            EXECUTE format('
                CREATE TABLE IF NOT EXISTS %I_archived PARTITION OF %I
                FOR VALUES IN (TRUE);',
                emt_sanitize_name('emt_messages_' || new_module || '__' || tenant_record.tenant || '_archived'), emt_sanitize_name('emt_messages_' || new_module || '__' || tenant_record.tenant)
            );
  
            -- For emt_streams table
            EXECUTE format('
                CREATE TABLE IF NOT EXISTS %I PARTITION OF %I
                FOR VALUES IN (emt_sanitize_name(''%s__%s'')) PARTITION BY LIST (is_archived);',
                emt_sanitize_name('emt_streams_' || new_module || '__' || tenant_record.tenant), 'emt_streams', new_module, tenant_record.tenant
            );
  
            EXECUTE format('
                CREATE TABLE IF NOT EXISTS %I_active PARTITION OF %I
                FOR VALUES IN (FALSE);',
                emt_sanitize_name('emt_streams_' || new_module || '__' || tenant_record.tenant || '_active'), emt_sanitize_name('emt_streams_' || new_module || '__' || tenant_record.tenant)
            );
  
            EXECUTE format('
                CREATE TABLE IF NOT EXISTS %I_archived PARTITION OF %I
                FOR VALUES IN (TRUE);',
                emt_sanitize_name('emt_streams_' || new_module || '__' || tenant_record.tenant || '_archived'), emt_sanitize_name('emt_streams_' || new_module || '__' || tenant_record.tenant)
            );
        END LOOP;
    END;
    $$ LANGUAGE plpgsql;
  
-- ===== addTenantForAllModulesSQL =====

    CREATE OR REPLACE FUNCTION add_tenant_for_all_modules(new_tenant TEXT) RETURNS void AS $$
    DECLARE
        module_record RECORD;
    BEGIN
        FOR module_record IN SELECT DISTINCT partitionname FROM pg_partman.part_config WHERE parent_table = 'emt_messages'
        LOOP
            -- For emt_messages table
            EXECUTE format('
                CREATE TABLE IF NOT EXISTS %I PARTITION OF %I
                FOR VALUES IN (emt_sanitize_name(''%s__%s'')) PARTITION BY LIST (is_archived);',
                emt_sanitize_name('emt_messages_' || module_record.partitionname || '__' || new_tenant), 'emt_messages', module_record.partitionname, new_tenant
            );
  
            EXECUTE format('
                CREATE TABLE IF NOT EXISTS %I_active PARTITION OF %I
                FOR VALUES IN (FALSE);',
                emt_sanitize_name('emt_messages_' || module_record.partitionname || '__' || new_tenant || '_active'), emt_sanitize_name('emt_messages_' || module_record.partitionname || '__' || new_tenant)
            );
  
            EXECUTE format('
                CREATE TABLE IF NOT EXISTS %I_archived PARTITION OF %I
                FOR VALUES IN (TRUE);',
                emt_sanitize_name('emt_messages_' || module_record.partitionname || '__' || new_tenant || '_archived'), emt_sanitize_name('emt_messages_' || module_record.partitionname || '__' || new_tenant)
            );
  
            -- For emt_streams table
            EXECUTE format('
                CREATE TABLE IF NOT EXISTS %I PARTITION OF %I
                FOR VALUES IN (emt_sanitize_name(''%s__%s'')) PARTITION BY LIST (is_archived);',
                emt_sanitize_name('emt_streams_' || module_record.partitionname || '__' || new_tenant), 'emt_streams', module_record.partitionname, new_tenant
            );
  
            EXECUTE format('
                CREATE TABLE IF NOT EXISTS %I_active PARTITION OF %I
                FOR VALUES IN (FALSE);',
                emt_sanitize_name('emt_streams_' || module_record.partitionname || '__' || new_tenant || '_active'), emt_sanitize_name('emt_streams_' || module_record.partitionname || '__' || new_tenant)
            );
  
            EXECUTE format('
                CREATE TABLE IF NOT EXISTS %I_archived PARTITION OF %I
                FOR VALUES IN (TRUE);',
                emt_sanitize_name('emt_streams_' || module_record.partitionname || '__' || new_tenant || '_archived'), emt_sanitize_name('emt_streams_' || module_record.partitionname || '__' || new_tenant)
            );
        END LOOP;
    END;
    $$ LANGUAGE plpgsql;
  